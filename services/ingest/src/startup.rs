//! Building and running ingest: `main` and the tests start it the same way.

use crate::dedup::{DedupError, DiskDedup};
use crate::handler::IngestHandler;
use pushmesh_runtime::amqp::topology::{self, Lane};
use pushmesh_runtime::ops::{ListenError, Ops};
use pushmesh_runtime::service::Service;
use pushmesh_runtime::{Settings, Shutdown};
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
    service: Service,
    store: Arc<DiskDedup>,
}

impl Application {
    /// Binds the HTTP listener (`listen.ingest`; port 0 picks a free one) and opens the store.
    pub fn build(settings: Settings, shutdown: Shutdown) -> Result<Self, StartError> {
        let window_ms = settings.ingest.dedup_window_s * 1000;
        let store = Arc::new(DiskDedup::open(&settings.data_dir, window_ms)?);
        let addr = settings.listen.ingest;
        let settings = Arc::new(settings);
        let service = Service::build("ingest", Ops::new(), addr, settings, shutdown, |_| {})?;
        Ok(Application { service, store })
    }

    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// Runs until the shutdown signal; the batch in flight is finished first.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application { service, store } = self;
        let (ops, settings) = (service.ops(), service.settings().clone());
        let messages = ops.counter(
            "ingest_messages_total",
            "Messages taken from pushmesh.ingest, by kind and result.",
            &["kind", "result"],
        );
        report_filter_bytes(ops, store.clone());
        let handler =
            |lane| IngestHandler::new(lane, settings.clone(), store.clone(), messages.clone());
        service
            .run(|session| {
                let (mut messages, mut calls) = (handler(Lane::Message), handler(Lane::Call));
                async move {
                    tokio::try_join!(
                        session.run_stage(topology::INGEST_QUEUE, &mut messages),
                        session.run_stage(topology::INGEST_CALLS_QUEUE, &mut calls),
                    )
                    .map(|_| ())
                }
            })
            .await
    }
}

/// How often the dedup filters' size is read into its gauge: they change when a bucket's
/// filter is built (every eighth of the window, or at start) or purged.
const FILTER_GAUGE_EVERY: Duration = Duration::from_secs(5);

fn report_filter_bytes(ops: &Ops, store: Arc<DiskDedup>) {
    let gauge = ops
        .gauge(
            "ingest_dedup_filter_bytes",
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
