//! dispatch-honor: Honor Push, `sendMessage` with up to 1000 tokens. Same parts as every vendor
//! module: `settings`, `request`, `response` (its one table) and `client`, whose `authorize` is
//! the core's OAuth 2.0 client credentials.

mod client;
mod request;
mod response;
mod settings;

pub use client::HonorClient;
pub use settings::HonorSettings;

use pushmesh_dispatch::StartError;
use pushmesh_runtime::{Settings, Shutdown};

pub type Application = pushmesh_dispatch::Application<HonorClient>;

/// Builds the dispatcher with one client per app that has `[apps.<app_id>.honor]`.
pub fn build(
    settings: Settings,
    config_dir: &std::path::Path,
    shutdown: Shutdown,
) -> Result<Application, StartError> {
    pushmesh_dispatch::build(settings, config_dir, shutdown)
}
