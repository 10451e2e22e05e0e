//! dispatch-honor: Honor Push, `sendMessage` with up to 1000 tokens. Same parts as every vendor
//! module: `settings`, `auth`, `request`, `response` (its one table), `client`.

mod auth;
mod client;
mod request;
mod response;
mod settings;

pub use client::HonorClient;
pub use settings::HonorSettings;

use pushmesh_contract::Vendor;
use pushmesh_dispatch::StartError;
use pushmesh_runtime::{Settings, SettingsError, Shutdown};

pub type Application = pushmesh_dispatch::Application<HonorClient>;

/// Builds the dispatcher with one client per app that has `[apps.<app_id>.honor]`.
pub fn build(settings: Settings, shutdown: Shutdown) -> Result<Application, StartError> {
    pushmesh_dispatch::build(
        "dispatch-honor",
        Vendor::Honor,
        settings,
        shutdown,
        |app, s: HonorSettings, http| {
            s.validate().map_err(|(key, reason)| {
                SettingsError::invalid(format!("apps.{app}.honor.{key}"), reason)
            })?;
            Ok(HonorClient::new(s, http))
        },
    )
}
