//! dispatch-oppo: OPPO Push (HeyTap), `unicast` and `unicast_batch` (up to 1000). Same parts as
//! every vendor module: `settings`, `auth`, `request`, `response` (its one table), `client`.

mod auth;
mod client;
mod request;
mod response;
mod settings;

pub use client::OppoClient;
pub use settings::OppoSettings;

use pushmesh_dispatch::StartError;
use pushmesh_runtime::{Settings, Shutdown};

pub type Application = pushmesh_dispatch::Application<OppoClient>;

/// Builds the dispatcher with one client per app that has `[apps.<app_id>.oppo]`.
pub fn build(
    settings: Settings,
    config_dir: &std::path::Path,
    shutdown: Shutdown,
) -> Result<Application, StartError> {
    pushmesh_dispatch::build(settings, config_dir, shutdown)
}
