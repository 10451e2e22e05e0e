//! Every pushmesh binary allocates through jemalloc (this crate is in all of them, and a
//! `#[global_allocator]` applies to the whole program that links it).
//!
//! Why: with glibc's malloc, allocation and freeing took about a fifth of a dispatcher's CPU
//! under load, and RabbitMQ and the services share the cores. With jemalloc the services used
//! about 6% less CPU per push at the same rate (a dispatcher 9% less), idle memory stayed within
//! the target and memory flat after a million pushes (docs/benchmarks.md, change 13).
//! mimalloc, tried earlier, held 26-59 MB per idle service.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
