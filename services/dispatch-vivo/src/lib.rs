//! dispatch-vivo: vivo Push, `/message/send` and list pushes (up to 1000). Same parts as every
//! vendor module: `settings`, `auth`, `request`, `response` (its one table), `client`.

mod auth;
mod client;
mod request;
mod response;
mod settings;

pub use client::VivoClient;
pub use settings::VivoSettings;

use pushmesh_contract::Vendor;
use pushmesh_dispatch::StartError;
use pushmesh_runtime::{Settings, SettingsError, Shutdown};

pub type Application = pushmesh_dispatch::Application<VivoClient>;

/// Builds the dispatcher with one client per app that has `[apps.<app_id>.vivo]`.
pub fn build(settings: Settings, shutdown: Shutdown) -> Result<Application, StartError> {
    pushmesh_dispatch::build(
        "dispatch-vivo",
        Vendor::Vivo,
        settings,
        shutdown,
        |app, s: VivoSettings, http| {
            s.validate().map_err(|(key, reason)| {
                SettingsError::invalid(format!("apps.{app}.vivo.{key}"), reason)
            })?;
            Ok(VivoClient::new(s, http))
        },
    )
}
