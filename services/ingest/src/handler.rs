//! Ingest's stage: validate, deduplicate, split into per-shard batches for presence and registry.

use crate::dedup::{DedupError, DedupKey, DedupStore};
use crate::routed::Routed;
use crate::validate::{Accepted, Rejection, Validator};
use prometheus::IntCounterVec;
use pushmesh_contract::now_ms;
use pushmesh_contract::stage::{PresenceItem, PushJob, RegistryItem};
use pushmesh_contract::trace::{TraceStage, TraceWhat};
use pushmesh_runtime::amqp::topology::{self, Lane, ERROR_HEADER};
use pushmesh_runtime::amqp::{
    blocking_commit, AmqpError, Commit, Delivery, Handled, Outgoing, StageHandler, Work,
};
use pushmesh_runtime::recent;
use pushmesh_runtime::trace::{self, About, Tracer};
use pushmesh_runtime::Settings;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct IngestHandler<S> {
    /// The lane whose queue this handler takes: calls have their own.
    lane: Lane,
    settings: Arc<Settings>,
    store: Arc<S>,
    metrics: IntCounterVec,
    /// Message ids of batches passed on but not yet recorded (their outputs await confirms):
    /// a repeat arriving meanwhile is a duplicate too.
    in_flight: Arc<Mutex<HashSet<DedupKey>>>,
    last_purge_ms: u64,
    tracer: Tracer,
}

impl<S: DedupStore> IngestHandler<S> {
    pub fn new(lane: Lane, settings: Arc<Settings>, store: Arc<S>, metrics: IntCounterVec) -> Self {
        IngestHandler {
            lane,
            tracer: Tracer::new(TraceStage::Ingest, &settings.trace),
            settings,
            store,
            metrics,
            in_flight: Arc::default(),
            last_purge_ms: 0,
        }
    }

    pub(crate) fn count(&self, kind: &str, result: &str) {
        self.metrics.with_label_values(&[kind, result]).inc();
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(crate) fn store(&self) -> &S {
        &self.store
    }

    pub(crate) fn window_ms(&self) -> u64 {
        self.settings.ingest.dedup_window_s * 1000
    }

    /// Whether `key` is new (not seen within the window, nor in a batch in flight); a new one
    /// is recorded once this batch's outputs are confirmed.
    pub(crate) fn pass_on(
        &mut self,
        key: DedupKey,
        routed: &mut Routed,
    ) -> Result<bool, AmqpError> {
        let window_start = now_ms().saturating_sub(self.window_ms());
        let seen = self
            .store
            .seen_since(&key, window_start)
            .map_err(AmqpError::stage)?;
        if seen || !lock(&self.in_flight).insert(key) {
            return Ok(false);
        }
        routed.passed_on.push(key);
        Ok(true)
    }
}

fn dedup_key(app_id: &str, message_id: &str) -> DedupKey {
    recent::key(&[app_id.as_bytes(), message_id.as_bytes()])
}

fn lock(set: &Mutex<HashSet<DedupKey>>) -> std::sync::MutexGuard<'_, HashSet<DedupKey>> {
    set.lock().unwrap_or_else(|e| e.into_inner())
}

fn kind_of(routing_key: &str) -> &'static str {
    match routing_key.split('.').next() {
        Some("im") => "message",
        Some("presence") => "presence",
        Some("binding") => "binding",
        _ => "unknown",
    }
}

impl<S: DedupStore> StageHandler for IngestHandler<S> {
    /// The message lane is paced; the call lane takes a call the moment it comes.
    fn batch_interval(&self) -> Duration {
        match self.lane {
            Lane::Message => Duration::from_millis(self.settings.ingest.batch_interval_ms),
            Lane::Call => Duration::ZERO,
        }
    }

    async fn handle(&mut self, batch: &[Delivery]) -> Result<Work, AmqpError> {
        let settings = self.settings.clone();
        let known = |app: &str| settings.is_known_app(app);
        let validator = Validator {
            limits: &settings.ingest,
            is_known_app: &known,
        };
        let mut routed = Routed::new(self.tracer.batch());
        for d in batch {
            let key = d.routing_key.as_str();
            // Calls are bound to both queues; the call lane's handler takes them.
            let is_call = key.starts_with("im.call.");
            if is_call != (self.lane == Lane::Call) {
                continue;
            }
            match validator.validate(key, &d.data) {
                Ok(accepted) => self.route(accepted, kind_of(key), &mut routed)?,
                Err(reason) => self.reject(d, reason, &mut routed),
            }
        }
        let commit = self.commit(std::mem::take(&mut routed.passed_on));
        Ok(Handled {
            outputs: routed.outputs(),
            commit: Some(commit),
        }
        .into())
    }
}

impl<S: DedupStore> IngestHandler<S> {
    /// Refused input goes to `pushmesh.rejected` with the reason: never dropped, never retried.
    fn reject(&self, d: &Delivery, reason: Rejection, routed: &mut Routed) {
        let key = d.routing_key.as_str();
        // Logged and traced under the app and message the body names, if it names them.
        let body: serde_json::Value = serde_json::from_slice(&d.data).unwrap_or_default();
        let named = |field: &str| body.get(field).and_then(|v| v.as_str()).unwrap_or_default();
        let id = [named("message_id"), named("call_id")].concat();
        let app_id = named("app_id");
        tracing::warn!(routing_key = key, app_id, message_id = id, %reason, "rejected input");
        self.count(kind_of(key), "rejected");
        let what = TraceWhat::Rejected {
            reason: format!("{key}: {reason}"),
        };
        routed
            .trace
            .record(About::message(named("app_id"), &id), what);
        routed.direct.push(
            Outgoing::to_queue(topology::REJECTED_QUEUE, d.data.clone())
                .with_header(ERROR_HEADER, reason.0)
                .with_header("x-pushmesh-routing-key", key),
        );
    }

    /// Files an accepted input under the shard of its user: session events and jobs go to
    /// presence, binding events straight to the registry.
    fn route(
        &mut self,
        accepted: Accepted,
        kind: &str,
        routed: &mut Routed,
    ) -> Result<(), AmqpError> {
        let shards = self.settings.shards;
        let shard = |app: &str, user: &str| topology::shard_of(app, user, shards);
        match accepted {
            Accepted::NoPush => {
                self.count(kind, "no_push");
                return Ok(());
            }
            Accepted::Push {
                app_id,
                message_id,
                recipients,
                notification,
                ttl_s,
                dry_run,
            } => {
                let expires_at_ms = now_ms() + ttl_s * 1000;
                let job = PushJob {
                    app_id,
                    message_id,
                    recipients: Vec::new(),
                    notification,
                    expires_at_ms,
                    call: None,
                    accepted_us: trace::now_us(),
                    dry_run,
                };
                return self.route_push(job, recipients, kind, routed);
            }
            Accepted::Online(e) => routed.presence(
                shard(&e.app_id, &e.user_id),
                Lane::Message,
                PresenceItem::Online {
                    app_id: e.app_id,
                    user_id: e.user_id,
                    session_id: e.session_id,
                    ttl_s: e.ttl_s,
                },
            ),
            Accepted::Offline(e) => routed.presence(
                shard(&e.app_id, &e.user_id),
                Lane::Message,
                PresenceItem::Offline {
                    app_id: e.app_id,
                    user_id: e.user_id,
                    session_id: e.session_id,
                },
            ),
            Accepted::Bind(e) => routed.registry(
                shard(&e.app_id, &e.user_id),
                RegistryItem::Bind {
                    app_id: e.app_id,
                    user_id: e.user_id,
                    push_id: e.push_id,
                },
            ),
            Accepted::Invite(i) => return self.route_invite(i, routed),
            Accepted::Cancel(c) => return self.route_cancel(c, routed),
            Accepted::Unbind(e) => routed.registry(
                shard(&e.app_id, &e.user_id),
                RegistryItem::Unbind {
                    app_id: e.app_id,
                    user_id: e.user_id,
                    push_id: e.push_id,
                },
            ),
        }
        self.count(kind, "accepted");
        Ok(())
    }

    /// A message seen within the dedup window (or in a batch still in flight) is dropped; a new
    /// one becomes a job per shard of its recipients.
    fn route_push(
        &mut self,
        job: PushJob,
        recipients: Vec<String>,
        kind: &str,
        routed: &mut Routed,
    ) -> Result<(), AmqpError> {
        let about = About::message(&job.app_id, &job.message_id)
            .accepted(job.accepted_us)
            .dry_run(job.dry_run);
        if !self.pass_on(dedup_key(&job.app_id, &job.message_id), routed)? {
            let (app_id, message_id) = (&job.app_id, &job.message_id);
            tracing::info!(%app_id, %message_id, "duplicate message suppressed");
            self.count(kind, "duplicate");
            routed.trace.record(about, TraceWhat::Duplicate);
            return Ok(());
        }
        self.count(kind, "accepted");
        let recipients_n = recipients.len() as u32;
        let accepted = TraceWhat::Accepted {
            recipients: recipients_n,
            dry_run: job.dry_run,
        };
        routed.trace.record(about, accepted);
        let mut by_shard: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for r in recipients {
            let shard = topology::shard_of(&job.app_id, &r, self.settings.shards);
            by_shard.entry(shard).or_default().push(r);
        }
        for (shard, recipients) in by_shard {
            let job = PushJob {
                recipients,
                ..job.clone()
            };
            routed.presence(shard, Lane::of(job.call.as_ref()), PresenceItem::Job(job));
        }
        Ok(())
    }

    /// Records the batch's message ids once its outputs are confirmed (and now and then purges
    /// the window's tail); they then leave the in-flight set.
    fn commit(&mut self, keys: Vec<DedupKey>) -> Commit {
        let (store, in_flight) = (self.store.clone(), self.in_flight.clone());
        let now = now_ms();
        let purge_before = (now.saturating_sub(self.last_purge_ms) > 60_000).then(|| {
            self.last_purge_ms = now;
            now.saturating_sub(self.settings.ingest.dedup_window_s * 1000)
        });
        blocking_commit(move || {
            store.record(&keys, now_ms())?;
            let mut in_flight_now = lock(&in_flight);
            for k in &keys {
                in_flight_now.remove(k);
            }
            drop(in_flight_now);
            if let Some(before) = purge_before {
                let purged = store.purge(before)?;
                tracing::debug!(purged, "dedup window purged");
            }
            Ok::<_, DedupError>(())
        })
    }
}
