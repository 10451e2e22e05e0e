use super::{AmqpError, BatchConsumer, Delivery, Outgoing, Publisher};
use crate::ops::Ops;
use crate::{Settings, Shutdown};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesOrdered, StreamExt};
use lapin::Connection;
use prometheus::{HistogramVec, IntCounterVec};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Work a stage does once a batch's outputs are confirmed and before the batch is acked, such
/// as making its own writes durable. It runs in a task of its own, while the stage already
/// handles the next batch.
pub type Commit = BoxFuture<'static, Result<(), AmqpError>>;

/// A commit that does blocking work (sled's flush waits for the disk) on tokio's blocking pool,
/// so the stage's thread goes on meanwhile.
pub fn blocking_commit<E>(work: impl FnOnce() -> Result<(), E> + Send + 'static) -> Commit
where
    E: std::fmt::Display + Send + 'static,
{
    Box::pin(async move {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(AmqpError::stage)?
            .map_err(AmqpError::stage)
    })
}

/// What a handler made of a batch: the messages to publish, and what to do once the broker has
/// confirmed them.
pub struct Handled {
    pub outputs: Vec<Outgoing>,
    pub commit: Option<Commit>,
}

impl From<Vec<Outgoing>> for Handled {
    /// Outputs with nothing to commit.
    fn from(outputs: Vec<Outgoing>) -> Self {
        Handled {
            outputs,
            commit: None,
        }
    }
}

/// What a stage does with a batch of deliveries. The loop around it ([`run_stage`]) owns the
/// at-least-once rules, so a handler only turns input into output.
pub trait StageHandler {
    /// Turns a batch into the messages to publish. Bad input becomes a rejected or dead-letter
    /// message, never an error: an error means the service cannot work now (its storage failed),
    /// and every batch not yet acked is left for redelivery.
    ///
    /// Batches are handled one at a time, in order, but a batch may be handled before the
    /// previous one's outputs are confirmed and its commit has run.
    fn handle(&mut self, batch: &[Delivery]) -> impl Future<Output = Result<Handled, AmqpError>>;
}

/// How a service's stages spend their time, by queue: where latency goes shows here first.
#[derive(Clone)]
pub struct StageMetrics {
    /// Time a handler took for a batch.
    handle_seconds: HistogramVec,
    /// Time from a batch's outputs written to its ack: confirms plus commit.
    settle_seconds: HistogramVec,
    /// Batches and deliveries taken (their ratio is the mean batch size).
    batches: IntCounterVec,
    deliveries: IntCounterVec,
}

impl StageMetrics {
    pub fn new(ops: &Ops) -> Self {
        StageMetrics {
            handle_seconds: ops.histogram(
                "batch_handle_seconds",
                "Time a stage's handler took for one batch, by queue.",
                &["queue"],
            ),
            settle_seconds: ops.histogram(
                "batch_settle_seconds",
                "Time from a batch's outputs written to its ack (confirms and commit), by queue.",
                &["queue"],
            ),
            batches: ops.counter(
                "batches_total",
                "Batches a stage took, by queue.",
                &["queue"],
            ),
            deliveries: ops.counter(
                "batch_deliveries_total",
                "Deliveries a stage took in batches, by queue.",
                &["queue"],
            ),
        }
    }
}

/// Consumes `queue` until shutdown: batch, handle, publish, and once the outputs are confirmed,
/// commit and ack.
///
/// Batches are pipelined: after a batch's outputs are written to the channel the stage takes
/// the next one, and up to `batch.in_flight` batches wait for their confirms and commits at once.
/// They are acked in order (one `multiple` ack each), so an ack never covers a batch whose
/// outputs are not confirmed. On shutdown no new batch is taken; those in flight are finished.
pub async fn run_stage<H: StageHandler>(
    conn: &Connection,
    queue: &str,
    settings: &Settings,
    shutdown: &Shutdown,
    handler: &mut H,
    metrics: &StageMetrics,
) -> Result<(), AmqpError> {
    let handle_seconds = metrics.handle_seconds.with_label_values(&[queue]);
    let settle_seconds = metrics.settle_seconds.with_label_values(&[queue]);
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
    let in_flight_max = settings.batch.in_flight.max(1);
    let mut in_flight: FuturesOrdered<AbortOnDrop> = FuturesOrdered::new();
    // A session learns of a dead connection only when it next uses it, and a wait on a
    // publisher confirm may never learn (a broker restart left one hanging, and the stage with
    // it): the connection's first error ends the session once the batch in hand is handled.
    let connection_failed = first_error(conn);
    tokio::pin!(connection_failed);
    loop {
        // Any broker failure ends the session: unacked deliveries go back to their queues with
        // the connection, and the supervisor starts a fresh one.
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            e = &mut connection_failed => return Err(e),
            settled = in_flight.next(), if !in_flight.is_empty() => {
                let last = finished(settled.expect("polled only while something is in flight"))?;
                consumer.ack_through(&last).await?;
            }
            batch = consumer.next_batch(), if in_flight.len() < in_flight_max => {
                let mut batch = batch?;
                metrics.batches.with_label_values(&[queue]).inc();
                metrics.deliveries.with_label_values(&[queue]).inc_by(batch.len() as u64);
                let started = Instant::now();
                let Handled { outputs, commit } = handler.handle(&batch).await?;
                handle_seconds.observe(started.elapsed().as_secs_f64());
                let confirms = publisher.send_all(&outputs).await?;
                let settle_seconds = settle_seconds.clone();
                let written = Instant::now();
                let last = batch.pop().expect("a batch holds at least one delivery");
                // A task, so confirms and commits move on while this loop waits on a vendor or
                // the queue. On failure nothing more is acked: the broker redelivers the batch
                // and it is published again.
                in_flight.push_back(AbortOnDrop(tokio::spawn(async move {
                    confirms.confirmed().await?;
                    if let Some(commit) = commit {
                        commit.await?;
                    }
                    settle_seconds.observe(written.elapsed().as_secs_f64());
                    Ok(last)
                })));
            }
        }
    }
    // A batch whose outputs went out is finished: confirmed, committed and acked (unless the
    // connection fails meanwhile; then its confirms may never come).
    loop {
        tokio::select! {
            biased;
            e = &mut connection_failed => return Err(e),
            settled = in_flight.next() => match settled {
                Some(settled) => {
                    consumer.ack_through(&finished(settled)?).await?;
                }
                None => return Ok(()),
            },
        };
    }
}

/// A batch's confirm-and-commit task, stopped if the session ends without it (after a broker
/// failure its confirms may never come, and nothing would ever reap it).
struct AbortOnDrop(JoinHandle<Result<Delivery, AmqpError>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Future for AbortOnDrop {
    type Output = Result<Result<Delivery, AmqpError>, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// The last delivery of a batch that is confirmed and committed.
fn finished(
    task: Result<Result<Delivery, AmqpError>, tokio::task::JoinError>,
) -> Result<Delivery, AmqpError> {
    task.map_err(|e| AmqpError::stage(format!("a batch's commit task failed: {e}")))?
}

/// The connection's first error; pending forever if it has none.
async fn first_error(conn: &Connection) -> AmqpError {
    let mut events = conn.events_listener();
    while let Some(event) = events.next().await {
        if let lapin::Event::Error(e) = event {
            return AmqpError::Broker(e);
        }
    }
    std::future::pending().await
}
