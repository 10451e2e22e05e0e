//! dispatch-fcm: Firebase Cloud Messaging over the HTTP v1 API. The vendor module has the same
//! parts as every other: `settings`, `auth` (its credential), `request`, `response` (its one
//! table), and `client`, which wires them into the dispatcher core as a `VendorApi`.

mod auth;
mod client;
mod request;
mod response;
mod settings;

pub use client::FcmClient;
pub use settings::FcmSettings;

use pushmesh_dispatch::StartError;
use pushmesh_runtime::{Settings, Shutdown};

pub type Application = pushmesh_dispatch::Application<FcmClient>;

/// Builds the dispatcher with one FCM client per app that has `[apps.<app_id>.fcm]`.
/// Relative `service_account_file` paths are resolved against `config_dir`.
pub fn build(
    settings: Settings,
    config_dir: &std::path::Path,
    shutdown: Shutdown,
) -> Result<Application, StartError> {
    pushmesh_dispatch::build(settings, config_dir, shutdown)
}
