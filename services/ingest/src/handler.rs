//! Ingest's stage: validate, deduplicate, split into per-shard batches for presence and registry.

use crate::dedup::DedupStore;
use crate::validate::{Accepted, Validator};
use prometheus::IntCounterVec;
use pushmesh_contract::codec;
use pushmesh_contract::now_ms;
use pushmesh_contract::stage::{Batch, PresenceItem, PushJob, RegistryItem};
use pushmesh_runtime::amqp::topology::{self, ERROR_HEADER};
use pushmesh_runtime::amqp::{AmqpError, Delivery, Outgoing, StageHandler};
use pushmesh_runtime::Settings;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

pub struct IngestHandler<S> {
    settings: Arc<Settings>,
    store: Arc<S>,
    metrics: IntCounterVec,
    /// Message ids of the batch in flight, recorded as seen once its outputs are confirmed.
    pending: Vec<Vec<u8>>,
    last_purge_ms: u64,
}

impl<S: DedupStore> IngestHandler<S> {
    pub fn new(settings: Arc<Settings>, store: Arc<S>, metrics: IntCounterVec) -> Self {
        IngestHandler {
            settings,
            store,
            metrics,
            pending: Vec::new(),
            last_purge_ms: 0,
        }
    }

    fn count(&self, kind: &str, result: &str) {
        self.metrics.with_label_values(&[kind, result]).inc();
    }
}

fn dedup_key(app_id: &str, message_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(app_id.len() + message_id.len() + 1);
    k.extend_from_slice(app_id.as_bytes());
    k.push(0);
    k.extend_from_slice(message_id.as_bytes());
    k
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
    async fn handle(&mut self, batch: &[Delivery]) -> Result<Vec<Outgoing>, AmqpError> {
        self.pending.clear();
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
        let mut in_batch = HashSet::new();

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
                    if seen || !in_batch.insert(dk.clone()) {
                        tracing::info!(%app_id, %message_id, "duplicate message suppressed");
                        self.count(kind, "duplicate");
                        continue;
                    }
                    self.pending.push(dk);
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
        Ok(out)
    }

    async fn committed(&mut self) -> Result<(), AmqpError> {
        let now = now_ms();
        self.store
            .record(&self.pending, now)
            .map_err(AmqpError::stage)?;
        self.pending.clear();
        if now.saturating_sub(self.last_purge_ms) > 60_000 {
            self.last_purge_ms = now;
            let before = now.saturating_sub(self.settings.ingest.dedup_window_s * 1000);
            let purged = self.store.purge(before).map_err(AmqpError::stage)?;
            tracing::debug!(purged, "dedup window purged");
        }
        Ok(())
    }
}
