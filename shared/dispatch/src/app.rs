//! Running a dispatcher: the same for every vendor binary, which only builds its clients.

use crate::breaker::Breaker;
use crate::limits::{
    day_offset_ms, default_requests_per_s, DailyQuota, LimitSettings, RateLimits, LIMIT_KEYS,
};
use crate::retry::RetryPolicy;
use crate::sent::{DiskSent, SentStore};
use crate::{DispatchHandler, DispatchMetrics, VendorActor, VendorApi};
use actix::Actor;
use pushmesh_contract::Vendor;
use pushmesh_runtime::amqp::{run_stage, supervise, topology, StageMetrics};
use pushmesh_runtime::ops::{self, ListenError, Ops};
use pushmesh_runtime::{service, Settings, SettingsError, Shutdown};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("{0}")]
    Http(String),
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    Store(#[from] crate::sent::SentError),
}

/// Builds a vendor's dispatcher: one client per app that has `[apps.<app>.<vendor>]`, made by
/// `make` from its parsed settings `S` and the shared HTTP client.
pub fn build<S, V, F>(
    service: &'static str,
    vendor: Vendor,
    settings: Settings,
    shutdown: Shutdown,
    make: F,
) -> Result<Application<V>, StartError>
where
    S: serde::de::DeserializeOwned,
    V: VendorApi,
    F: Fn(&str, S, reqwest::Client) -> Result<V, SettingsError>,
{
    let http = crate::support::http_client(&settings).map_err(StartError::Http)?;
    let mut clients = HashMap::new();
    for (app, vendors) in &settings.apps {
        let Some(table) = vendors.get(vendor.as_str()) else {
            continue;
        };
        let key = format!("apps.{app}.{vendor}");
        let invalid = |e: serde_json::Error| SettingsError::invalid(key.as_str(), e.to_string());
        crate::support::check_urls(&key, table)?;
        // The limit keys are the core's; the rest of the table is the vendor module's.
        let limits: LimitSettings = serde_json::from_value(table.clone()).map_err(invalid)?;
        let mut own = table.clone();
        if let Some(map) = own.as_object_mut() {
            LIMIT_KEYS.iter().for_each(|k| {
                map.remove(*k);
            });
        }
        let parsed: S = serde_json::from_value(own).map_err(invalid)?;
        clients.insert(app.clone(), (make(app, parsed, http.clone())?, limits));
    }
    if clients.is_empty() {
        tracing::warn!(%vendor, "no app has settings for this vendor: its pushes will be rejected");
    }
    Application::build(service, vendor, settings, clients, shutdown)
}

pub struct Application<V: VendorApi> {
    vendor: Vendor,
    port: u16,
    server: actix_web::dev::Server,
    settings: Arc<Settings>,
    clients: HashMap<String, (V, LimitSettings)>,
    sent: Arc<dyn SentStore>,
    ops: Ops,
    shutdown: Shutdown,
}

impl<V: VendorApi> Application<V> {
    /// `service`: the metric prefix, e.g. `dispatch-fcm`. `clients`: one per app id.
    pub fn build(
        service: &'static str,
        vendor: Vendor,
        settings: Settings,
        clients: HashMap<String, (V, LimitSettings)>,
        shutdown: Shutdown,
    ) -> Result<Self, StartError> {
        let addr = settings.dispatch_listen(vendor);
        let sent = Arc::new(DiskSent::open(&settings.data_dir, service)?);
        let ops = Ops::new(service);
        let (server, port) = ops::serve(addr, ops.clone(), |_| {})?;
        Ok(Application {
            vendor,
            port,
            server,
            settings: Arc::new(settings),
            clients,
            sent,
            ops,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until the shutdown signal; the batch in flight is finished (sent, outcomes
    /// confirmed, acked) first. Must run inside an actix system (the vendor actors live there).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            vendor,
            server,
            settings,
            clients,
            sent,
            ops,
            shutdown,
            ..
        } = self;
        let metrics = DispatchMetrics {
            attempts: ops.counter(
                "attempts_total",
                "Vendor answers per push, by result.",
                &["result"],
            ),
            outcomes: ops.counter(
                "outcomes_total",
                "Final outcomes of pushes, by status.",
                &["status"],
            ),
            duplicates: ops.counter(
                "duplicates_total",
                "Redelivered pushes already settled, not sent to the vendor again.",
                &[],
            ),
            request_seconds: ops.histogram(
                "request_duration_seconds",
                "Vendor request latency.",
                &[],
            ),
        };
        // Each app's client knows its own batch size; the actor keeps it beside its address.
        let day_ms = settings.dispatch.quota_day_s * 1000;
        let actors: HashMap<_, _> = clients
            .into_iter()
            .map(|(app, (client, l))| {
                let max = client.max_devices_per_request().max(1);
                let rps = l.requests_per_s.or(default_requests_per_s(vendor));
                let limits = RateLimits::new(rps, l.devices_per_s, max as u32);
                let quota = l.daily_quota.map(|limit| DailyQuota {
                    limit,
                    day_ms,
                    offset_ms: day_offset_ms(vendor),
                    key: format!("quota/{app}"),
                    store: sent.clone(),
                });
                (app, (VendorActor::new(client, limits, quota).start(), max))
            })
            .collect();
        let d = &settings.dispatch;
        let breaker = || {
            Breaker::new(
                d.breaker_failures,
                Duration::from_millis(d.breaker_cooldown_ms),
                Duration::from_millis(d.breaker_max_cooldown_ms),
            )
        };
        let policy = RetryPolicy {
            max_attempts: d.max_attempts,
            base: Duration::from_millis(d.backoff_base_ms),
            cap: Duration::from_millis(d.backoff_max_ms),
            tiers: d
                .retry_tiers_s
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
        };
        let queue = topology::dispatch_queue(vendor);
        let name = format!("dispatch-{vendor}");
        let stages = StageMetrics::new(&ops);
        // A dispatcher's own prefetch (`dispatch.prefetch`): its messages carry many pushes each.
        // A batch stays in flight while its vendor requests are out, so a dispatcher keeps up to
        // `dispatch.concurrency` batches in flight (still at most `dispatch.prefetch` deliveries
        // unacked): with four, every push behind them waited out a slow vendor's answer before
        // its own request could start.
        let mut stage_settings = Settings::clone(&settings);
        stage_settings.amqp.prefetch = settings.dispatch.prefetch;
        stage_settings.batch.in_flight =
            settings.batch.in_flight.max(settings.dispatch.concurrency);
        let work = supervise(&name, &settings, &ops.health, &shutdown, |conn| {
            let mut handler = DispatchHandler::new(
                vendor,
                actors.clone(),
                sent.clone(),
                breaker(),
                settings.dispatch.concurrency,
                policy.clone(),
                metrics.clone(),
            )
            .stop_on(shutdown.clone());
            let (settings, shutdown, queue, stages) = (&stage_settings, &shutdown, &queue, &stages);
            async move { run_stage(&conn, queue, settings, shutdown, &mut handler, stages).await }
        });
        let result = service::run(server, work, &shutdown).await;
        if let Err(e) = sent.flush() {
            tracing::error!(error = %e, "final flush of the sent-push store failed");
        }
        result
    }
}
