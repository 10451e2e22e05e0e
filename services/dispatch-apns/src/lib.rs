//! dispatch-apns: Apple Push Notification service over HTTP/2 with token-based (.p8) auth.
//! Same parts as every vendor module: `settings`, `auth`, `request`, `response` (its one
//! table), `client`.

mod auth;
mod client;
mod request;
mod response;
mod settings;

pub use client::ApnsClient;
pub use settings::ApnsSettings;

use pushmesh_dispatch::StartError;
use pushmesh_runtime::{Settings, Shutdown};

pub type Application = pushmesh_dispatch::Application<ApnsClient>;

/// Builds the dispatcher with one client per app that has `[apps.<app_id>.apns]`. Relative
/// `key_file` paths are resolved against `config_dir`.
pub fn build(
    settings: Settings,
    config_dir: &std::path::Path,
    shutdown: Shutdown,
) -> Result<Application, StartError> {
    pushmesh_dispatch::build(settings, config_dir, shutdown)
}
