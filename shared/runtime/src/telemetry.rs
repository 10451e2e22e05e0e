//! Tracing set-up, called once from each `main`.

use tracing_subscriber::EnvFilter;

/// Logs to stderr with the given filter (`log` in settings, e.g. `info,lapin=warn`).
pub fn init(service: &str, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests start several services in one process) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
    tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
}
