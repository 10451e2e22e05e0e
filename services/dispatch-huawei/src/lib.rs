//! dispatch-huawei: Huawei Push Kit (HMS, Android and HarmonyOS 3/4) over its v1 REST API, up to
//! 1000 tokens per request. Same parts as every vendor module: `settings`, `auth`, `request`,
//! `response` (its one table), `client`.

mod auth;
mod client;
mod request;
mod response;
mod settings;

pub use client::HuaweiClient;
pub use settings::HuaweiSettings;

use pushmesh_contract::Vendor;
use pushmesh_dispatch::StartError;
use pushmesh_runtime::{Settings, SettingsError, Shutdown};

pub type Application = pushmesh_dispatch::Application<HuaweiClient>;

/// Builds the dispatcher with one client per app that has `[apps.<app_id>.huawei]`.
pub fn build(settings: Settings, shutdown: Shutdown) -> Result<Application, StartError> {
    pushmesh_dispatch::build(
        "dispatch-huawei",
        Vendor::Huawei,
        settings,
        shutdown,
        |app, s: HuaweiSettings, http| {
            s.validate().map_err(|(key, reason)| {
                SettingsError::invalid(format!("apps.{app}.huawei.{key}"), reason)
            })?;
            Ok(HuaweiClient::new(s, http))
        },
    )
}
