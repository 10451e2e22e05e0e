//! Building and running ingest: `main` and the tests start it the same way.

use crate::dedup::{DedupError, DiskDedup};
use crate::handler::IngestHandler;
use pushmesh_runtime::amqp::{run_stage, supervise, topology, StageMetrics};
use pushmesh_runtime::ops::{self, ListenError, Ops};
use pushmesh_runtime::{service, Settings, Shutdown};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    Store(#[from] DedupError),
}

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    settings: Arc<Settings>,
    store: Arc<DiskDedup>,
    ops: Ops,
    shutdown: Shutdown,
}

impl Application {
    /// Binds the HTTP listener (`listen.ingest`; port 0 picks a free one) and opens the store.
    pub fn build(settings: Settings, shutdown: Shutdown) -> Result<Self, StartError> {
        let store = Arc::new(DiskDedup::open(
            &settings.data_dir,
            settings.ingest.dedup_window_s * 1000,
        )?);
        let ops = Ops::new("ingest");
        let (server, port) = ops::serve(settings.listen.ingest, ops.clone(), |_| {})?;
        Ok(Application {
            port,
            server,
            settings: Arc::new(settings),
            store,
            ops,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until the shutdown signal; the batch in flight is finished first.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            server,
            settings,
            store,
            ops,
            shutdown,
            ..
        } = self;
        let messages = ops.counter(
            "messages_total",
            "Messages taken from pushmesh.ingest, by kind and result.",
            &["kind", "result"],
        );
        let stages = StageMetrics::new(&ops);
        report_filter_bytes(&ops, store.clone());
        let work = supervise("ingest", &settings, &ops.health, &shutdown, |conn| {
            let mut handler = IngestHandler::new(settings.clone(), store.clone(), messages.clone());
            let (settings, shutdown, stages) = (&settings, &shutdown, &stages);
            async move {
                run_stage(
                    &conn,
                    topology::INGEST_QUEUE,
                    settings,
                    shutdown,
                    &mut handler,
                    stages,
                )
                .await
            }
        });
        service::run(server, work, &shutdown).await
    }
}

/// How often the dedup filters' size is read into its gauge: they change when a bucket's
/// filter is built (every eighth of the window, or at start) or purged.
const FILTER_GAUGE_EVERY: Duration = Duration::from_secs(5);

fn report_filter_bytes(ops: &Ops, store: Arc<DiskDedup>) {
    let gauge = ops
        .gauge(
            "dedup_filter_bytes",
            "Memory held by the dedup window's filters (about 1.3 bytes per message id).",
            &[],
        )
        .with_label_values(&[] as &[&str]);
    // Ends with the runtime, when the service stops.
    actix_rt::spawn(async move {
        let mut every = tokio::time::interval(FILTER_GAUGE_EVERY);
        loop {
            every.tick().await;
            gauge.set(store.filter_stats().bytes as i64);
        }
    });
}
