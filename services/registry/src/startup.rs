//! Building and running the registry: `main` and the tests start it the same way.

use crate::api::{self, ApiState};
use crate::handler::{InvalidTokenHandler, Metrics, ResolveHandler};
use crate::store::{self, DeviceStore, StoreError};
use actix_web::web;
use pushmesh_runtime::amqp::{run_stage, supervise, topology, StageMetrics};
use pushmesh_runtime::ops::{self, ListenError, Ops};
use pushmesh_runtime::{service, Settings, SettingsError, Shutdown};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    settings: Arc<Settings>,
    store: Arc<dyn DeviceStore>,
    ops: Ops,
    shutdown: Shutdown,
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
        let store: Arc<dyn DeviceStore> = Arc::new(store::open(
            &settings.data_dir,
            settings.registry.shard,
            settings.registry.cache_bytes,
        )?);
        let settings = Arc::new(settings);
        let ops = Ops::new("registry");
        let state = web::Data::new(ApiState {
            store: store.clone(),
            settings: settings.clone(),
        });
        let (server, port) = ops::serve(settings.listen.registry, ops.clone(), move |cfg| {
            cfg.app_data(state.clone())
                .app_data(api::json_config())
                .configure(api::routes);
        })?;
        Ok(Application {
            port,
            server,
            settings,
            store,
            ops,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until the shutdown signal; batches in flight are finished first.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            server,
            settings,
            store,
            ops,
            shutdown,
            ..
        } = self;
        let metrics = Metrics {
            recipients: ops.counter(
                "recipients_total",
                "Offline recipients resolved, by result.",
                &["result"],
            ),
            pushes: ops.counter(
                "pushes_total",
                "Device pushes handed to dispatchers, by vendor.",
                &["vendor"],
            ),
            bindings: ops.counter(
                "bindings_total",
                "Binding events applied, by event and result.",
                &["event", "result"],
            ),
            deleted: ops.counter(
                "devices_deleted_total",
                "Devices deleted by the registry, by reason.",
                &["reason"],
            ),
        };
        let queue = topology::registry_queue(settings.registry.shard);
        let stages = StageMetrics::new(&ops);
        let work = supervise("registry", &settings, &ops.health, &shutdown, |conn| {
            let mut resolve = ResolveHandler {
                store: store.clone(),
                metrics: metrics.clone(),
            };
            let mut invalid = InvalidTokenHandler {
                store: store.clone(),
                metrics: metrics.clone(),
            };
            let (settings, shutdown, queue, stages) = (&settings, &shutdown, &queue, &stages);
            async move {
                tokio::try_join!(
                    run_stage(&conn, queue, settings, shutdown, &mut resolve, stages),
                    run_stage(
                        &conn,
                        topology::INVALID_TOKENS_QUEUE,
                        settings,
                        shutdown,
                        &mut invalid,
                        stages
                    ),
                )
                .map(|_| ())
            }
        });
        let result = service::run(server, work, &shutdown).await;
        if let Err(e) = store.flush() {
            tracing::error!(error = %e, "final flush of the device store failed");
        }
        result
    }
}
