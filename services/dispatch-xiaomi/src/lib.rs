//! dispatch-xiaomi: Xiaomi MiPush, `POST /v3/message/regid` with up to 1000 regids. Same parts
//! as every vendor module: `settings`, `request`, `response` (its one table), `client`; MiPush
//! has no auth exchange (a static key), so there is no `auth`.

mod client;
mod request;
mod response;
mod settings;

pub use client::XiaomiClient;
pub use settings::XiaomiSettings;

use pushmesh_contract::Vendor;
use pushmesh_dispatch::StartError;
use pushmesh_runtime::{Settings, SettingsError, Shutdown};

pub type Application = pushmesh_dispatch::Application<XiaomiClient>;

/// Builds the dispatcher with one client per app that has `[apps.<app_id>.xiaomi]`.
pub fn build(settings: Settings, shutdown: Shutdown) -> Result<Application, StartError> {
    pushmesh_dispatch::build(
        "dispatch-xiaomi",
        Vendor::Xiaomi,
        settings,
        shutdown,
        |app, s: XiaomiSettings, http| {
            s.validate().map_err(|(key, reason)| {
                SettingsError::invalid(format!("apps.{app}.xiaomi.{key}"), reason)
            })?;
            Ok(XiaomiClient::new(s, http))
        },
    )
}
