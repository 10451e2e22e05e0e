//! Test helpers: a whole mesh per test, against the real RabbitMQ (a vhost of its own), real
//! store files (a temporary folder of its own) and vendor-sim over HTTP. Every service runs
//! in-process on port 0, started exactly as `main` starts it; the FCM dispatcher can instead
//! run as a real process, for tests that kill it.

mod broker;
mod config;
mod mesh;
mod processes;
pub mod prometheus;
mod tls;
pub mod webdriver;

pub use broker::Vhost;
pub use mesh::{Mesh, MeshOptions};
pub use tls::{BrokerTls, TestCa};

use std::time::Duration;

/// Polls `check` every 50 ms until it returns Some, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The repository root, for fixtures and built binaries.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}
