//! Ingest's stage: validate, deduplicate, split into per-shard batches for presence and registry.

use crate::dedup::{DedupError, DedupKey, DedupStore};
use crate::validate::{Accepted, Validator};
use prometheus::IntCounterVec;
use pushmesh_contract::codec;
use pushmesh_contract::now_ms;
use pushmesh_contract::stage::{Batch, PresenceItem, PushJob, RegistryItem};
use pushmesh_runtime::amqp::topology::{self, ERROR_HEADER};
use pushmesh_runtime::amqp::{
    blocking_commit, AmqpError, Commit, Delivery, Handled, Outgoing, StageHandler, Work,
};
use pushmesh_runtime::recent;
use pushmesh_runtime::Settings;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct IngestHandler<S> {
    settings: Arc<Settings>,
    store: Arc<S>,
    metrics: IntCounterVec,
    /// Message ids of batches passed on but not yet recorded (their outputs await confirms):
    /// a repeat arriving meanwhile is a duplicate too.
    in_flight: Arc<Mutex<HashSet<DedupKey>>>,
    last_purge_ms: u64,
}

impl<S: DedupStore> IngestHandler<S> {
    pub fn new(settings: Arc<Settings>, store: Arc<S>, metrics: IntCounterVec) -> Self {
        IngestHandler {
            settings,
            store,
            metrics,
            in_flight: Arc::default(),
            last_purge_ms: 0,
        }
    }

    fn count(&self, kind: &str, result: &str) {
        self.metrics.with_label_values(&[kind, result]).inc();
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
    fn batch_interval(&self) -> Duration {
        Duration::from_millis(self.settings.ingest.batch_interval_ms)
    }

    async fn handle(&mut self, batch: &[Delivery]) -> Result<Work, AmqpError> {
        let mut passed_on = Vec::new();
        let now = now_ms();
        let window_start = now.saturating_sub(self.settings.ingest.dedup_window_s * 1000);
        let shards = self.settings.shards;
        let settings = self.settings.clone();
        let known = |app: &str| settings.is_known_app(app);
        let validator = Validator {
            limits: &settings.ingest,
            is_known_app: &known,
        };
        let mut presence: BTreeMap<u32, Vec<PresenceItem>> = BTreeMap::new();
        let mut registry: BTreeMap<u32, Vec<RegistryItem>> = BTreeMap::new();
        let mut rejected = Vec::new();

        for d in batch {
            let key = d.routing_key.as_str();
            let kind = kind_of(key);
            let accepted = match validator.validate(key, &d.data) {
                Ok(a) => a,
                Err(reason) => {
                    tracing::warn!(routing_key = key, %reason, "rejected input");
                    self.count(kind, "rejected");
                    rejected.push(
                        Outgoing::to_queue(topology::REJECTED_QUEUE, d.data.clone())
                            .with_header(ERROR_HEADER, reason.0)
                            .with_header("x-pushmesh-routing-key", key),
                    );
                    continue;
                }
            };
            match accepted {
                Accepted::NoPush => self.count(kind, "no_push"),
                Accepted::Push {
                    app_id,
                    message_id,
                    recipients,
                    notification,
                    ttl_s,
                } => {
                    let dk = dedup_key(&app_id, &message_id);
                    let seen = self
                        .store
                        .seen_since(&dk, window_start)
                        .map_err(AmqpError::stage)?;
                    if seen || !lock(&self.in_flight).insert(dk) {
                        tracing::info!(%app_id, %message_id, "duplicate message suppressed");
                        self.count(kind, "duplicate");
                        continue;
                    }
                    passed_on.push(dk);
                    self.count(kind, "accepted");
                    let mut by_shard: BTreeMap<u32, Vec<String>> = BTreeMap::new();
                    for r in recipients {
                        by_shard
                            .entry(topology::shard_of(&app_id, &r, shards))
                            .or_default()
                            .push(r);
                    }
                    for (shard, recipients) in by_shard {
                        presence
                            .entry(shard)
                            .or_default()
                            .push(PresenceItem::Job(PushJob {
                                app_id: app_id.clone(),
                                message_id: message_id.clone(),
                                recipients,
                                notification: notification.clone(),
                                expires_at_ms: now + ttl_s * 1000,
                            }));
                    }
                }
                Accepted::Online(e) => {
                    self.count(kind, "accepted");
                    let shard = topology::shard_of(&e.app_id, &e.user_id, shards);
                    presence
                        .entry(shard)
                        .or_default()
                        .push(PresenceItem::Online {
                            app_id: e.app_id,
                            user_id: e.user_id,
                            session_id: e.session_id,
                            ttl_s: e.ttl_s,
                        });
                }
                Accepted::Offline(e) => {
                    self.count(kind, "accepted");
                    let shard = topology::shard_of(&e.app_id, &e.user_id, shards);
                    presence
                        .entry(shard)
                        .or_default()
                        .push(PresenceItem::Offline {
                            app_id: e.app_id,
                            user_id: e.user_id,
                            session_id: e.session_id,
                        });
                }
                Accepted::Bind(e) => {
                    self.count(kind, "accepted");
                    let shard = topology::shard_of(&e.app_id, &e.user_id, shards);
                    registry.entry(shard).or_default().push(RegistryItem::Bind {
                        app_id: e.app_id,
                        user_id: e.user_id,
                        push_id: e.push_id,
                    });
                }
                Accepted::Unbind(e) => {
                    self.count(kind, "accepted");
                    let shard = topology::shard_of(&e.app_id, &e.user_id, shards);
                    registry
                        .entry(shard)
                        .or_default()
                        .push(RegistryItem::Unbind {
                            app_id: e.app_id,
                            user_id: e.user_id,
                            push_id: e.push_id,
                        });
                }
            }
        }

        let mut out = rejected;
        for (shard, items) in registry {
            out.push(Outgoing::to_queue(
                topology::registry_queue(shard),
                codec::encode(&Batch { items }),
            ));
        }
        for (shard, items) in presence {
            out.push(Outgoing::to_queue(
                topology::presence_queue(shard),
                codec::encode(&Batch { items }),
            ));
        }
        Ok(Handled {
            outputs: out,
            commit: Some(self.commit(passed_on)),
        }
        .into())
    }
}

impl<S: DedupStore> IngestHandler<S> {
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
