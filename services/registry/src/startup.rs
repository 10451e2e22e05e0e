//! Building and running the registry: `main` and the tests start it the same way.

use crate::api::{self, ApiState};
use crate::handler::{InvalidTokenHandler, Metrics, ResolveHandler};
use crate::store::{self, DeviceStore, StoreError};
use crate::trace::{TraceHandler, TraceStore};
use actix_web::web;
use pushmesh_contract::trace::TraceStage;
use pushmesh_runtime::amqp::topology::{self, Lane};
use pushmesh_runtime::ops::{ListenError, Ops};
use pushmesh_runtime::recent::RecentError;
use pushmesh_runtime::service::Service;
use pushmesh_runtime::trace::Tracer;
use pushmesh_runtime::{Settings, SettingsError, Shutdown};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Trace(#[from] RecentError),
}

pub struct Application {
    service: Service,
    store: Arc<dyn DeviceStore>,
    trace: Arc<TraceStore>,
}

impl Application {
    /// Opens the device store and binds the HTTP listener (`listen.registry`; port 0 picks one).
    pub fn build(settings: Settings, shutdown: Shutdown) -> Result<Self, StartError> {
        if settings.shards > 1 {
            // Devices are keyed by push_id, bindings by user: with several shards the device API
            // would need routing by device. Until that exists, say so rather than misroute.
            return Err(SettingsError::invalid(
                "shards",
                "the registry serves a single shard in this version; set shards = 1",
            )
            .into());
        }
        let r = &settings.registry;
        let store: Arc<dyn DeviceStore> =
            Arc::new(store::open(&settings.data_dir, r.shard, r.cache_bytes)?);
        let trace = Arc::new(TraceStore::open(
            &settings.data_dir,
            settings.trace.cache_bytes,
        )?);
        let addr = settings.listen.registry;
        let settings = Arc::new(settings);
        let state = web::Data::new(ApiState::new(store.clone(), settings.clone())?);
        let traces = web::Data::from(trace.clone());
        let routes = move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(state.clone())
                .app_data(traces.clone())
                .app_data(api::json_config())
                .configure(api::routes);
        };
        let service = Service::build("registry", Ops::new(), addr, settings, shutdown, routes)?;
        Ok(Application {
            service,
            store,
            trace,
        })
    }

    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// Runs until the shutdown signal; batches in flight are finished first.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            service,
            store,
            trace,
        } = self;
        let window_ms = service.settings().trace.window_s * 1000;
        let metrics = Metrics::new(service.ops());
        let shard = service.settings().registry.shard;
        let tracer = Tracer::new(TraceStage::Registry, &service.settings().trace);
        let resolve = || ResolveHandler {
            store: store.clone(),
            metrics: metrics.clone(),
            tracer: tracer.clone(),
        };
        let result = service
            .run(|session| {
                let (mut messages, mut calls) = (resolve(), resolve());
                let mut invalid = InvalidTokenHandler {
                    store: store.clone(),
                    metrics: metrics.clone(),
                };
                let mut traces = TraceHandler {
                    store: trace.clone(),
                    window_ms,
                    last_prune_ms: 0,
                };
                async move {
                    let queue = |lane| topology::registry_queue(shard, lane);
                    let (message_queue, call_queue) = (queue(Lane::Message), queue(Lane::Call));
                    tokio::try_join!(
                        session.run_stage(&message_queue, &mut messages),
                        session.run_stage(&call_queue, &mut calls),
                        session.run_stage(topology::INVALID_TOKENS_QUEUE, &mut invalid),
                        session.run_stage(topology::TRACE_QUEUE, &mut traces),
                    )
                    .map(|_| ())
                }
            })
            .await;
        if let Err(e) = store.flush() {
            tracing::error!(error = %e, "final flush of the device store failed");
        }
        if let Err(e) = trace.flush() {
            tracing::error!(error = %e, "final flush of the trace store failed");
        }
        result
    }
}
