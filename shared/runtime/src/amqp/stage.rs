use super::{AmqpError, BatchConsumer, Delivery, Outgoing, Publisher};
use crate::{Settings, Shutdown};
use lapin::Connection;
use std::future::Future;
use std::time::Duration;

/// What a stage does with a batch of deliveries. The loop around it ([`run_stage`]) owns the
/// at-least-once rules, so a handler only turns input into output.
pub trait StageHandler {
    /// Turns a batch into the messages to publish. Bad input becomes a rejected or dead-letter
    /// message, never an error: an error means the service cannot work now (its storage failed),
    /// and the whole batch is left for redelivery.
    fn handle(
        &mut self,
        batch: &[Delivery],
    ) -> impl Future<Output = Result<Vec<Outgoing>, AmqpError>>;

    /// Runs after every output is confirmed and before the batch is acked.
    fn committed(&mut self) -> impl Future<Output = Result<(), AmqpError>> {
        async { Ok(()) }
    }
}

/// Consumes `queue` until shutdown: batch, handle, publish with confirms, commit, ack.
/// A batch that has started is finished before shutdown returns.
pub async fn run_stage<H: StageHandler>(
    conn: &Connection,
    queue: &str,
    settings: &Settings,
    shutdown: &Shutdown,
    handler: &mut H,
) -> Result<(), AmqpError> {
    let publisher = Publisher::open(conn).await?;
    let linger = Duration::from_millis(settings.batch.linger_ms);
    let mut consumer = BatchConsumer::open(
        conn,
        queue,
        settings.amqp.prefetch,
        settings.batch.max_items,
        linger,
    )
    .await?;
    loop {
        let batch = tokio::select! {
            biased;
            _ = shutdown.wait() => return Ok(()),
            batch = consumer.next_batch() => batch,
        };
        // Any broker failure ends the session: unacked deliveries go back to their queues with
        // the connection, and the supervisor starts a fresh one.
        let batch = batch?;
        let outputs = handler.handle(&batch).await?;
        // On failure nothing is acked: the broker redelivers the batch and it is published again.
        publisher.publish_all(&outputs).await?;
        handler.committed().await?;
        let last = batch.last().expect("a batch holds at least one delivery");
        consumer.ack_through(last).await?;
    }
}
