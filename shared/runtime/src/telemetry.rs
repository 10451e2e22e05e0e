//! Tracing set-up, called once from each `main`.

use crate::Settings;
use tracing_subscriber::EnvFilter;

/// Logs to stderr with the settings' filter (`log`, e.g. `info,lapin=warn`), as text or, with
/// `log_format = "json"`, one JSON object a line for log shippers (the span fields, such as
/// message_id and push_id, included).
pub fn init(service: &str, settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    // A second init (tests start several services in one process) keeps the first subscriber.
    let _ = match settings.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
}

pub use crate::settings::LogFormat;
