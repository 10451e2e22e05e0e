//! What every pushmesh service shares: typed settings, the AMQP connection and topology,
//! the ops HTTP endpoints, shutdown, tracing and the short-lived id store.

mod allocator;
pub mod amqp;
pub mod ops;
pub mod recent;
pub mod service;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
pub mod trace;

pub use settings::{Settings, SettingsError};
pub use shutdown::Shutdown;
