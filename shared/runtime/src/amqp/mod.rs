//! The AMQP side of every service: one connection per service, owned by the [`supervise`] loop;
//! publishing with confirms ([`Publisher`]); consuming in batches with manual ack
//! ([`BatchConsumer`]); and the [`run_stage`] loop that ties them together so that a delivery is
//! acked only after everything it produced is confirmed by the broker.

mod consumer;
pub mod parked;
mod publisher;
mod stage;
mod supervisor;
pub mod topology;

pub use consumer::BatchConsumer;
pub use lapin::message::Delivery;
pub use lapin::Connection;
pub use publisher::{Confirms, Outgoing, Publisher};
pub use stage::{
    blocking_commit, run_stage, Commit, Handled, Later, StageHandler, StageMetrics, Work,
};
pub use supervisor::supervise;

use crate::settings::AmqpSettings;
use lapin::tcp::OwnedTLSConfig;
use lapin::ConnectionProperties;

/// Connects to `amqp.url`. Over `amqps://` the broker's certificate must verify against the
/// public roots or `amqp.ca_file`, and name the URL's host.
pub async fn open(
    amqp: &AmqpSettings,
    props: ConnectionProperties,
) -> Result<Connection, AmqpError> {
    let ca = match &amqp.ca_file {
        Some(path) => Some(crate::tls::read_ca(path).map_err(AmqpError::Tls)?),
        None => None,
    };
    let tls = OwnedTLSConfig {
        identity: None,
        cert_chain: ca,
    };
    let runtime = lapin::runtime::default_runtime()?;
    Ok(Connection::connect_with_config(&amqp.url, props, tls, runtime).await?)
}

#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
    #[error("broker refused (nacked) a publish to `{0}`")]
    Nacked(String),
    #[error("no queue is bound for `{0}`: the broker returned the message")]
    Unroutable(String),
    #[error("the broker cancelled our consumer on `{0}`")]
    ConsumerClosed(String),
    #[error("amqp.ca_file: {0}")]
    Tls(String),
    #[error("the broker did not answer in time while {0}")]
    Timeout(&'static str),
    #[error("stage failed: {0}")]
    Stage(String),
}

impl AmqpError {
    /// A failure of this service's own work rather than of the broker.
    pub fn stage(e: impl std::fmt::Display) -> Self {
        AmqpError::Stage(e.to_string())
    }
}
