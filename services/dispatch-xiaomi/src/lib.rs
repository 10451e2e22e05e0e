//! dispatch-xiaomi: Xiaomi MiPush, `POST /v3/message/regid` with up to 1000 regids. Same parts
//! as every vendor module: `settings`, `request`, `response` (its one table), `client`; MiPush
//! has no auth exchange (a static key), so there is no `auth`.

mod client;
mod request;
mod response;
mod settings;

pub use client::XiaomiClient;
pub use settings::XiaomiSettings;

use pushmesh_dispatch::StartError;
use pushmesh_runtime::{Settings, Shutdown};

pub type Application = pushmesh_dispatch::Application<XiaomiClient>;

/// Builds the dispatcher with one client per app that has `[apps.<app_id>.xiaomi]`.
pub fn build(
    settings: Settings,
    config_dir: &std::path::Path,
    shutdown: Shutdown,
) -> Result<Application, StartError> {
    pushmesh_dispatch::build(settings, config_dir, shutdown)
}
