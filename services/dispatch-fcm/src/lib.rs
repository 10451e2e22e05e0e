//! dispatch-fcm: Firebase Cloud Messaging over the HTTP v1 API. The vendor module has the same
//! parts as every other: `settings`, `auth`, `request`, `response` (its one table), and `client`
//! which wires them into the dispatcher core.

mod auth;
mod client;
mod request;
mod response;
mod settings;

pub use client::FcmClient;
pub use settings::FcmSettings;

use pushmesh_contract::Vendor;
use pushmesh_dispatch::StartError;
use pushmesh_runtime::{Settings, SettingsError, Shutdown};

pub type Application = pushmesh_dispatch::Application<FcmClient>;

/// Builds the dispatcher with one FCM client per app that has `[apps.<app_id>.fcm]`.
/// Relative `service_account_file` paths are resolved against `config_dir`.
pub fn build(
    settings: Settings,
    config_dir: &std::path::Path,
    shutdown: Shutdown,
) -> Result<Application, StartError> {
    pushmesh_dispatch::build(
        "dispatch-fcm",
        Vendor::Fcm,
        settings,
        shutdown,
        |app, fcm: FcmSettings, http| {
            fcm.validate(app)?;
            let account = fcm.load_service_account(app, config_dir)?;
            let auth =
                auth::Auth::new(account, fcm.token_url.clone(), http.clone()).map_err(|e| {
                    SettingsError::invalid(
                        format!("apps.{app}.fcm.service_account_file"),
                        e.to_string(),
                    )
                })?;
            FcmClient::new(app, fcm, auth, http)
        },
    )
}
