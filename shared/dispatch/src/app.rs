//! Building and running a dispatcher: the same for every vendor binary, which names only its
//! client type.

use crate::actor::{ActorGauges, ActorSettings, DeadTokenGuard};
use crate::breaker::Breaker;
use crate::limits::{
    day_offset_ms, default_requests_per_s, DailyQuota, LimitSettings, RateLimits, LIMIT_KEYS,
};
use crate::retry::RetryPolicy;
use crate::sent::{DiskSent, SentStore};
use crate::state::States;
use crate::support::{check_urls, http_client};
use crate::{
    CallsEndedHandler, DispatchHandler, DispatchMetrics, VendorActor, VendorApi, VendorEnv,
};
use actix::{Actor, Addr};
use pushmesh_contract::trace::TraceStage;
use pushmesh_runtime::amqp::topology::{self, Lane};
use pushmesh_runtime::ops::{ListenError, Ops};
use pushmesh_runtime::service::Service;
use pushmesh_runtime::trace::Tracer;
use pushmesh_runtime::{Settings, SettingsError, Shutdown};
use std::collections::HashMap;
use std::path::Path;
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

pub struct Application<V: VendorApi> {
    service: Service,
    /// Per app id: its client and its limit settings.
    clients: HashMap<String, Client<V>>,
    sent: Arc<dyn SentStore>,
    states: States,
}

/// One app's client, its limits, and the fingerprint of the settings it was built from.
struct Client<V> {
    api: V,
    limits: LimitSettings,
    fingerprint: String,
}

/// Builds the dispatcher of `V`'s vendor: one client per app that has `[apps.<app>.<vendor>]`.
/// Relative paths in those tables are resolved against `config_dir`.
pub fn build<V: VendorApi>(
    mut settings: Settings,
    config_dir: &Path,
    shutdown: Shutdown,
) -> Result<Application<V>, StartError> {
    let vendor = V::VENDOR;
    let env = VendorEnv {
        http: http_client(&settings, V::HTTP2_ONLY).map_err(StartError::Http)?,
        config_dir,
    };
    let mut clients = HashMap::new();
    for (app, vendors) in &settings.apps {
        if let Some(table) = vendors.get(vendor.as_str()) {
            clients.insert(app.clone(), client::<V>(app, table, &env)?);
        }
    }
    if clients.is_empty() {
        tracing::warn!(%vendor, "no app has settings for this vendor: its pushes will be rejected");
    }
    // Its messages carry many pushes each, hence its own prefetch; and a batch stays in flight
    // while its vendor requests are out, so as many batches as requests may be in flight.
    settings.amqp.prefetch = settings.dispatch.prefetch;
    settings.batch.in_flight = settings.batch.in_flight.max(settings.dispatch.concurrency);
    let name = vendor.dispatcher();
    let sent = Arc::new(DiskSent::open(&settings.data_dir, name)?);
    let ops = Ops::labelled(&[("vendor", vendor.as_str())]);
    let addr = settings.dispatch_listen(vendor);
    let states = States::default();
    let routes = states.routes(vendor);
    let service = Service::build(name, ops, addr, Arc::new(settings), shutdown, routes)?;
    Ok(Application {
        service,
        clients,
        sent,
        states,
    })
}

/// One app's client and its limits, from its table `[apps.<app>.<vendor>]`: the limit keys are
/// the core's, the rest the vendor's.
fn client<V: VendorApi>(
    app: &str,
    table: &serde_json::Value,
    env: &VendorEnv,
) -> Result<Client<V>, SettingsError> {
    let key = format!("apps.{app}.{}", V::VENDOR);
    check_urls(&key, table)?;
    let invalid = |e: serde_json::Error| SettingsError::invalid(key.as_str(), e.to_string());
    let limits: LimitSettings = serde_json::from_value(table.clone()).map_err(invalid)?;
    let mut own = table.clone();
    if let Some(map) = own.as_object_mut() {
        LIMIT_KEYS.iter().for_each(|k| {
            map.remove(*k);
        });
    }
    let parsed: V::Settings = serde_json::from_value(own).map_err(invalid)?;
    let api = V::new(parsed, env).map_err(|e| e.within(&key))?;
    let made_from = match V::CREDENTIAL_KEYS {
        [] => table.clone(),
        keys => serde_json::json!(keys.iter().map(|k| (*k, &table[*k])).collect::<Vec<_>>()),
    };
    let digest = pushmesh_runtime::recent::key(&[made_from.to_string().as_bytes()]);
    let fingerprint = crate::support::hex(&digest[..8]);
    Ok(Client {
        api,
        limits,
        fingerprint,
    })
}

impl<V: VendorApi> Application<V> {
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// Runs until the shutdown signal; the batches in flight are finished (sent, outcomes
    /// confirmed, acked) first. Must run inside an actix system (the vendor actors live there).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            service,
            clients,
            sent,
            states,
        } = self;
        let settings = service.settings().clone();
        let metrics = DispatchMetrics::new(service.ops());
        let actors = start_actors(clients, &settings, &sent, service.ops());
        let recipients = actors
            .iter()
            .map(|(app, (actor, _))| (app.clone(), actor.clone().recipient()));
        states.set(recipients.collect());
        let policy = RetryPolicy::from_settings(&settings.dispatch);
        let call_tiers = topology::retry_tiers(&settings, Lane::Call);
        let handler = || {
            let (actors, sent, metrics) = (actors.clone(), sent.clone(), metrics.clone());
            let (policy, call_tiers) = (policy.clone(), call_tiers.clone());
            let tracer = Tracer::new(TraceStage::Dispatch, &settings.trace);
            DispatchHandler::new(V::VENDOR, actors, sent, policy, call_tiers, metrics, tracer)
        };
        let replica = settings.dispatch.replica.clone();
        let result = service
            .run(|session| {
                let (mut messages, mut calls) = (handler(), handler());
                let (actors, sent, replica) = (actors.clone(), sent.clone(), replica.clone());
                async move {
                    let (ended_queue, backlog) =
                        topology::declare_calls_ended(&session.conn, V::VENDOR, &replica).await?;
                    let mut ended = CallsEndedHandler::new(V::VENDOR, actors, sent, backlog);
                    let caught_up = ended.caught_up();
                    let queue = |lane| topology::dispatch_queue(V::VENDOR, lane);
                    let (message_queue, call_queue) = (queue(Lane::Message), queue(Lane::Call));
                    let call_lane = async {
                        caught_up.await;
                        session.run_stage(&call_queue, &mut calls).await
                    };
                    tokio::try_join!(
                        session.run_stage(&ended_queue, &mut ended),
                        session.run_stage(&message_queue, &mut messages),
                        call_lane,
                    )
                    .map(|_| ())
                }
            })
            .await;
        if let Err(e) = sent.flush() {
            tracing::error!(error = %e, "final flush of the sent-push store failed");
        }
        result
    }
}

/// One vendor actor per app, each with its own limits, quota and breaker; beside each, the
/// most devices one of its requests may carry.
fn start_actors<V: VendorApi>(
    clients: HashMap<String, Client<V>>,
    settings: &Settings,
    sent: &Arc<dyn SentStore>,
    ops: &Ops,
) -> HashMap<String, (Addr<VendorActor<V>>, usize)> {
    let vendor = V::VENDOR;
    let d = &settings.dispatch;
    let request_seconds = ops
        .histogram(
            "dispatch_request_duration_seconds",
            "Vendor request latency.",
            &[],
        )
        .with_label_values(&[] as &[&str]);
    let breaker_state = ops.gauge(
        "dispatch_breaker_state",
        "Each app's circuit breaker: 0 closed, 1 half-open (a probe may go), 2 open.",
        &["app"],
    );
    let quota_used = ops.gauge(
        "dispatch_quota_used_percent",
        "Each app's daily quota used today, in percent (apps with a daily_quota).",
        &["app"],
    );
    let guard_tripped = ops.gauge(
        "dispatch_dead_token_guard",
        "1 once an app's dead-token guard tripped: its settings are suspect, devices are kept.",
        &["app"],
    );
    clients
        .into_iter()
        .map(
            |(
                app,
                Client {
                    api,
                    limits,
                    fingerprint,
                },
            )| {
                let max = api.max_devices_per_request().max(1);
                let rps = limits.requests_per_s.or(default_requests_per_s(vendor));
                let quota = limits.daily_quota.map(|limit| {
                    let day_ms = d.quota_day_s * 1000;
                    DailyQuota::new(limit, day_ms, day_offset_ms(vendor), format!("quota/{app}"))
                });
                let actor = ActorSettings {
                    concurrency: d.concurrency,
                    limits: RateLimits::new(rps, limits.devices_per_s, max as u32),
                    quota,
                    breaker: Breaker::new(
                        d.breaker_failures,
                        Duration::from_millis(d.breaker_cooldown_ms),
                        Duration::from_millis(d.breaker_max_cooldown_ms),
                    ),
                    request_seconds: request_seconds.clone(),
                    credential_key: format!("credential/{app}/{fingerprint}"),
                    gauges: ActorGauges {
                        breaker: breaker_state.with_label_values(&[&app]),
                        quota_used_percent: quota_used.with_label_values(&[&app]),
                        dead_token_guard: guard_tripped.with_label_values(&[&app]),
                    },
                    guard: DeadTokenGuard::new(
                        d.dead_token_min,
                        d.dead_token_ratio,
                        Duration::from_secs(d.dead_token_window_s),
                    ),
                    suspect: format!("[apps.{app}.{vendor}] {}", V::TOKEN_SETTINGS),
                };
                let addr = VendorActor::new(api, sent.clone(), actor).start();
                (app, (addr, max))
            },
        )
        .collect()
}
