//! dispatch-fcm: Firebase Cloud Messaging over the HTTP v1 API. The vendor module has the same
//! parts as every other: `settings`, `auth`, `request`, `response` (its one table), and `client`
//! which wires them into the dispatcher core.

mod auth;
mod client;
mod request;
mod response;
mod settings;

pub use client::FcmClient;
pub use settings::{FcmSettings, FcmSettingsError};

use pushmesh_contract::Vendor;
use pushmesh_runtime::ops::ListenError;
use pushmesh_runtime::{Settings, SettingsError, Shutdown};
use std::collections::HashMap;
use std::time::Duration;

pub type Application = pushmesh_dispatch::Application<FcmClient>;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Fcm(#[from] FcmSettingsError),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    #[error(transparent)]
    Listen(#[from] ListenError),
}

/// Builds the dispatcher with one FCM client per app that has `[apps.<app>.fcm]`.
/// Relative `service_account_file` paths are resolved against `config_dir`.
pub fn build(
    settings: Settings,
    config_dir: &std::path::Path,
    shutdown: Shutdown,
) -> Result<Application, StartError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(settings.dispatch.request_timeout_ms))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(settings.dispatch.concurrency)
        .build()
        .map_err(|e| StartError::Http(e.to_string()))?;
    let mut clients = HashMap::new();
    for (app, fcm) in settings.vendor_apps::<FcmSettings>(Vendor::Fcm)? {
        fcm.validate(&app)?;
        let account = fcm.load_service_account(&app, config_dir)?;
        let auth = auth::Auth::new(account, fcm.token_url.clone(), http.clone()).map_err(|e| {
            FcmSettingsError::Invalid {
                app: app.clone(),
                key: "service_account_file",
                reason: e.to_string(),
            }
        })?;
        clients.insert(app, FcmClient::new(fcm, auth, http.clone()));
    }
    if clients.is_empty() {
        tracing::warn!("no app has [apps.<app_id>.fcm] settings: every FCM push will be rejected");
    }
    Ok(Application::build(
        "dispatch-fcm",
        Vendor::Fcm,
        settings,
        clients,
        shutdown,
    )?)
}
