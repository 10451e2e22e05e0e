//! Every pushmesh binary allocates through jemalloc (this crate is in all of them, and a
//! `#[global_allocator]` applies to the whole program that links it).
//!
//! Why: with glibc's malloc, allocating and freeing took about a fifth of a dispatcher's CPU
//! under load, and RabbitMQ and the services share the cores; jemalloc keeps idle memory small
//! and flat after a million pushes.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
