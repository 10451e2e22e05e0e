use super::publisher::now_us;
use super::topology::PUBLISHED_US_HEADER;
use super::{AmqpError, BatchConsumer, Confirms, Delivery, Outgoing, Publisher};
use crate::ops::Ops;
use crate::{Settings, Shutdown};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesOrdered, StreamExt};
use lapin::types::AMQPValue;
use lapin::Connection;
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Work a stage does once a batch's outputs are confirmed and before the batch is acked, such
/// as making its own writes durable. It runs in a task of its own, while the stage already
/// handles the next batch.
pub type Commit = BoxFuture<'static, Result<(), AmqpError>>;

/// A commit that does blocking work (a store's flush waits for the disk) on tokio's blocking pool,
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

/// Work a batch still has to do after its handler returned, ending in what it made of the
/// batch (a dispatcher's vendor requests: the next batch's requests need not wait for this
/// batch's slowest answer).
pub type Later = BoxFuture<'static, Result<Handled, AmqpError>>;

/// What a handler returns for a batch.
pub enum Work {
    /// Outputs ready now; they are published before the next batch is handled.
    Ready(Handled),
    /// Outputs that come when the future ends. It runs in a task of its own while the stage
    /// handles the next batches, so its outputs may be published after theirs; the batch is
    /// still acked in order, after everything before it.
    Later(Later),
}

impl From<Handled> for Work {
    fn from(handled: Handled) -> Self {
        Work::Ready(handled)
    }
}

impl From<Vec<Outgoing>> for Work {
    /// Outputs with nothing to commit.
    fn from(outputs: Vec<Outgoing>) -> Self {
        Work::Ready(Handled {
            outputs,
            commit: None,
        })
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
    /// previous one's outputs are confirmed, its commit has run, or its [`Work::Later`] ended.
    fn handle(&mut self, batch: &[Delivery]) -> impl Future<Output = Result<Work, AmqpError>>;

    /// The least time between two of this stage's batches while deliveries keep coming (see
    /// [`BatchConsumer::next_batch`]). None by default: only the mesh's first stage sets the
    /// pace, and the stages after it take one message per batch of it.
    fn batch_interval(&self) -> Duration {
        Duration::ZERO
    }
}

/// How a service's stages spend their time, by queue: where latency goes shows here first.
#[derive(Clone)]
pub struct StageMetrics {
    /// Time a handler took for a batch.
    handle_seconds: HistogramVec,
    /// Time from a batch's handler returning to its ack: later work, confirms and commit.
    settle_seconds: HistogramVec,
    /// Batches and deliveries taken (their ratio is the mean batch size).
    batches: IntCounterVec,
    deliveries: IntCounterVec,
    /// Time from the stage before publishing a message to this stage taking it.
    queue_wait_seconds: HistogramVec,
}

impl StageMetrics {
    pub fn new(ops: &Ops) -> Self {
        StageMetrics {
            handle_seconds: ops.histogram(
                "stage_batch_handle_seconds",
                "Time a stage's handler took for one batch, by queue.",
                &["queue"],
            ),
            settle_seconds: ops.histogram(
                "stage_batch_settle_seconds",
                "Time from a batch's handler returning to its ack (later work, confirms, commit), by queue.",
                &["queue"],
            ),
            batches: ops.counter(
                "stage_batches_total",
                "Batches a stage took, by queue.",
                &["queue"],
            ),
            deliveries: ops.counter(
                "stage_deliveries_total",
                "Deliveries a stage took in batches, by queue.",
                &["queue"],
            ),
            queue_wait_seconds: ops.histogram(
                "stage_queue_wait_seconds",
                "Time from the stage before publishing a message to this stage taking it in a batch (broker, prefetch, linger, batches in flight), by queue.",
                &["queue"],
            ),
        }
    }
}

/// Consumes `queue` until shutdown: batch, handle, publish, and once the outputs are confirmed,
/// commit and ack.
///
/// Batches are pipelined: after a batch's outputs are written to the channel (or its later work
/// has started, see [`Work::Later`]) the stage takes the next one, and up to `batch.in_flight`
/// batches wait for their later work, confirms and commits at once.
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
    let metrics = QueueMetrics::new(metrics, queue);
    let publisher = Publisher::open(conn).await?;
    let linger = Duration::from_millis(settings.batch.linger_ms);
    let mut consumer = BatchConsumer::open(
        conn,
        queue,
        settings.amqp.prefetch,
        settings.batch.max_items,
        linger,
        handler.batch_interval(),
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
        let settling = !in_flight.is_empty();
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            e = &mut connection_failed => return Err(e),
            settled = in_flight.next(), if !in_flight.is_empty() => {
                let last = finished(settled.expect("polled only while something is in flight"))?;
                consumer.ack_through(&last).await?;
            }
            batch = consumer.next_batch(settling), if in_flight.len() < in_flight_max => {
                in_flight.push_back(take(batch?, handler, &publisher, &metrics).await?);
            }
        }
    }
    // A batch taken is finished: its later work (a dispatcher's vendor answers) ends, its outputs
    // are confirmed, committed and acked (unless the connection fails meanwhile; then its
    // confirms may never come).
    loop {
        tokio::select! {
            biased;
            e = &mut connection_failed => return Err(e),
            settled = in_flight.next() => match settled {
                Some(settled) => {
                    consumer.ack_through(&finished(settled)?).await?;
                }
                None => break,
            },
        };
    }
    consumer.close().await;
    publisher.close().await;
    Ok(())
}

/// One queue's series of the stage metrics.
struct QueueMetrics {
    handle_seconds: Histogram,
    settle_seconds: Histogram,
    queue_wait_seconds: Histogram,
    batches: IntCounter,
    deliveries: IntCounter,
}

impl QueueMetrics {
    fn new(m: &StageMetrics, queue: &str) -> Self {
        QueueMetrics {
            handle_seconds: m.handle_seconds.with_label_values(&[queue]),
            settle_seconds: m.settle_seconds.with_label_values(&[queue]),
            queue_wait_seconds: m.queue_wait_seconds.with_label_values(&[queue]),
            batches: m.batches.with_label_values(&[queue]),
            deliveries: m.deliveries.with_label_values(&[queue]),
        }
    }
}

/// Handles a batch and starts the task that settles it: its later work, its outputs published
/// and confirmed, its commit. The task ends with the batch's last delivery, to ack through; on
/// failure nothing more is acked, so the broker redelivers the batch and it is published again.
async fn take<H: StageHandler>(
    mut batch: Vec<Delivery>,
    handler: &mut H,
    publisher: &Publisher,
    metrics: &QueueMetrics,
) -> Result<AbortOnDrop, AmqpError> {
    observe_waits(&batch, &metrics.queue_wait_seconds);
    metrics.batches.inc();
    metrics.deliveries.inc_by(batch.len() as u64);
    let started = Instant::now();
    let work = handler.handle(&batch).await?;
    metrics
        .handle_seconds
        .observe(started.elapsed().as_secs_f64());
    let handled = Instant::now();
    let last = batch.pop().expect("a batch holds at least one delivery");
    let settling = match work {
        Work::Ready(Handled { outputs, commit }) => {
            let confirms = publisher.send_all(&outputs).await?;
            Box::pin(settle(confirms, commit)) as BoxFuture<'static, _>
        }
        Work::Later(later) => {
            let publisher = publisher.clone();
            Box::pin(async move {
                let Handled { outputs, commit } = later.await?;
                settle(publisher.send_all(&outputs).await?, commit).await
            })
        }
    };
    // A task, so later work, confirms and commits move on while the loop takes the next batch.
    let settle_seconds = metrics.settle_seconds.clone();
    Ok(AbortOnDrop(tokio::spawn(async move {
        settling.await?;
        settle_seconds.observe(handled.elapsed().as_secs_f64());
        Ok(last)
    })))
}

/// How long each delivery waited between its publish and this batch. Not counted: input from
/// the IM server (no publish time), a message back from a retry delay (`x-death`: it waited
/// out its delay on purpose) and a redelivery (its wait includes a failed session's).
fn observe_waits(batch: &[Delivery], wait: &Histogram) {
    let now = now_us();
    for d in batch.iter().filter(|d| !d.redelivered) {
        let Some(headers) = d.properties.headers() else {
            continue;
        };
        if headers.contains_key("x-death") {
            continue;
        }
        if let Some(AMQPValue::LongLongInt(published)) = headers.inner().get(PUBLISHED_US_HEADER) {
            if let Ok(published) = u64::try_from(*published) {
                wait.observe(now.saturating_sub(published) as f64 / 1e6);
            }
        }
    }
}

/// A batch's outputs confirmed, then its commit run.
async fn settle(confirms: Confirms, commit: Option<Commit>) -> Result<(), AmqpError> {
    confirms.confirmed().await?;
    match commit {
        Some(commit) => commit.await,
        None => Ok(()),
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
