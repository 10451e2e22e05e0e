use super::{topology, AmqpError, Connection};
use crate::ops::Health;
use crate::{Settings, Shutdown};
use lapin::ConnectionProperties;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The longest a connect (with the topology) or a close may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Owns the service's AMQP connection for its whole life.
///
/// Any failure ends the session (a dropped connection, a broker not up yet, a returned message:
/// a queue deleted under us); this loop builds a fresh connection, declares the topology again
/// and restarts the session, with capped backoff. lapin's auto-recovery is off (see connect).
/// Readiness (`/readyz`) follows the session.
pub async fn supervise<F, Fut>(
    service: &str,
    settings: &Settings,
    health: &Health,
    shutdown: &Shutdown,
    mut session: F,
) where
    F: FnMut(Arc<Connection>) -> Fut,
    Fut: Future<Output = Result<(), AmqpError>>,
{
    let mut failures: u32 = 0;
    while !shutdown.is_triggered() {
        // A broker that is starting can take a connection and never answer the handshake: a
        // bounded wait, then a fresh try.
        let attempt = tokio::time::timeout(STEP_TIMEOUT, connect(service, settings)).await;
        match attempt.unwrap_or(Err(AmqpError::Timeout(
            "connecting and declaring the topology",
        ))) {
            Ok(conn) => {
                let conn = Arc::new(conn);
                failures = 0;
                health.set_ready(true);
                let result = session(conn.clone()).await;
                health.set_ready(false);
                // A session that ended cleanly closes its connection before the service stops.
                // One that failed has a dead connection, whose close can take until the
                // timeout: it closes in the background, so the new connection is not kept
                // waiting for it.
                let close = async move {
                    let close = conn.close(200, "pushmesh session ended".into());
                    let _ = tokio::time::timeout(STEP_TIMEOUT, close).await;
                };
                match result {
                    Ok(()) => close.await,
                    Err(_) => drop(tokio::spawn(close)),
                }
                match result {
                    Ok(()) if shutdown.is_triggered() => break,
                    Ok(()) => tracing::warn!(service, "AMQP session ended, reconnecting"),
                    Err(e) => {
                        tracing::warn!(service, error = %e, "AMQP session failed, reconnecting")
                    }
                }
            }
            Err(e) => tracing::warn!(service, error = %e, "cannot reach the broker"),
        }
        failures = failures.saturating_add(1);
        // At most 2 s: a broker back from a restart is found again within that.
        let delay = Duration::from_millis((100u64 << failures.min(6)).min(2_000));
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = tokio::time::sleep(delay) => {},
        }
    }
    tracing::info!(service, "AMQP supervisor stopped");
}

async fn connect(service: &str, settings: &Settings) -> Result<Connection, AmqpError> {
    // lapin's auto-recovery stays off: with it on, a broker restart mid-stream lost a batch now
    // and then (tests/broker); a fresh connection per session never did. See docs/architecture.md.
    let props =
        ConnectionProperties::default().with_connection_name(format!("pushmesh-{service}").into());
    let conn = super::open(&settings.amqp, props).await?;
    topology::declare(&conn, settings).await?;
    Ok(conn)
}
