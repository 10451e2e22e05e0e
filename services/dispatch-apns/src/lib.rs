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

use pushmesh_contract::Vendor;
use pushmesh_dispatch::StartError;
use pushmesh_runtime::{Settings, Shutdown};
use std::time::Duration;

pub type Application = pushmesh_dispatch::Application<ApnsClient>;

/// Builds the dispatcher with one client per app that has `[apps.<app_id>.apns]`. Relative
/// `key_file` paths are resolved against `config_dir`.
pub fn build(
    settings: Settings,
    config_dir: &std::path::Path,
    shutdown: Shutdown,
) -> Result<Application, StartError> {
    // APNs speaks HTTP/2 only; one client (its pool) for all apps keeps connections long-lived.
    let http = reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_millis(settings.dispatch.request_timeout_ms))
        .http2_keep_alive_interval(Duration::from_secs(60))
        .pool_idle_timeout(None)
        .build()
        .map_err(|e| StartError::Http(format!("cannot build the HTTP/2 client: {e}")))?;
    pushmesh_dispatch::build(
        "dispatch-apns",
        Vendor::Apns,
        settings,
        shutdown,
        |app, s: ApnsSettings, _| {
            s.validate(app)?;
            let key = s.load_key(app, config_dir)?;
            let auth = auth::Auth::new(s.team_id.clone(), s.key_id.clone(), key);
            Ok(ApnsClient::new(s, auth, http.clone()))
        },
    )
}
