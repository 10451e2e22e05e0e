//! End-to-end tests: the whole mesh over the real RabbitMQ, real store files and vendor-sim.
//! One test binary (one link step); each test has its own vhost, folder and ports.

mod api;
mod apns;
mod auth;
mod bindings;
mod calls;
mod console;
mod crash;
mod delivery;
mod dry_run;
mod faults;
mod guard;
mod monitoring;
mod ops;
mod presence;
mod publisher;
mod rejected;
mod retries;
mod tls;
mod trace;
mod vendors;
