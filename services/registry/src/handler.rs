//! The registry's two stages: resolving offline recipients to their devices (and applying
//! binding events, in order), and deleting devices whose token a vendor declared dead.

use crate::store::{DeviceStore, StoreError};
use prometheus::IntCounterVec;
use pushmesh_contract::public::{Outcome, OutcomeStatus};
use pushmesh_contract::stage::{Batch, DevicePush, PushJob, RegistryItem, MAX_PUSHES_PER_MESSAGE};
use pushmesh_contract::{codec, Vendor};
use pushmesh_runtime::amqp::topology::{self, ERROR_HEADER, MESSAGE_ID_HEADER, TOKEN_GEN_HEADER};
use pushmesh_runtime::amqp::{
    blocking_commit, AmqpError, Commit, Delivery, Handled, Outgoing, StageHandler, Work,
};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone)]
pub struct Metrics {
    /// Recipients resolved, by result: `device` or `no_device`.
    pub recipients: IntCounterVec,
    /// Device pushes handed to dispatchers, by vendor.
    pub pushes: IntCounterVec,
    /// Binding events applied, by event and result.
    pub bindings: IntCounterVec,
    /// Devices deleted, by reason.
    pub deleted: IntCounterVec,
}

pub struct ResolveHandler {
    pub store: Arc<dyn DeviceStore>,
    pub metrics: Metrics,
}

fn dead_letter(d: &Delivery, stage: &str, reason: impl std::fmt::Display) -> Outgoing {
    tracing::error!(%reason, "undecodable {stage} message sent to the dead-letter queue");
    Outgoing::to_queue(topology::DEAD_LETTER_QUEUE, d.data.clone())
        .with_header(ERROR_HEADER, format!("{stage}: {reason}"))
}

impl ResolveHandler {
    fn apply(
        &self,
        item: RegistryItem,
        pushes: &mut BTreeMap<Vendor, Vec<DevicePush>>,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), StoreError> {
        match item {
            RegistryItem::Bind {
                app_id,
                user_id,
                push_id,
            } => {
                let result = match self.store.bind(&app_id, &push_id, &user_id) {
                    Ok(()) => "applied",
                    Err(StoreError::NotFound(_)) => "unknown_device",
                    Err(e) => return Err(e),
                };
                self.metrics
                    .bindings
                    .with_label_values(&["bind", result])
                    .inc();
            }
            RegistryItem::Unbind {
                app_id,
                user_id,
                push_id,
            } => {
                let result = match self.store.unbind(&app_id, &push_id, Some(&user_id)) {
                    Ok(true) => "applied",
                    Ok(false) => "not_bound",
                    Err(StoreError::NotFound(_)) => "unknown_device",
                    Err(e) => return Err(e),
                };
                self.metrics
                    .bindings
                    .with_label_values(&["unbind", result])
                    .inc();
            }
            RegistryItem::Job(job) => self.resolve(job, pushes, out)?,
        }
        Ok(())
    }

    fn resolve(
        &self,
        job: PushJob,
        pushes: &mut BTreeMap<Vendor, Vec<DevicePush>>,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), StoreError> {
        for user in &job.recipients {
            let devices = self.store.devices_of(&job.app_id, user)?;
            if devices.is_empty() {
                self.metrics
                    .recipients
                    .with_label_values(&["no_device"])
                    .inc();
                let o =
                    Outcome::recipient(&job.app_id, &job.message_id, user, OutcomeStatus::NoDevice);
                out.push(
                    Outgoing::json(
                        topology::OUTCOMES_EXCHANGE,
                        o.routing_key(),
                        serde_json::to_vec(&o).expect("outcomes serialize"),
                    )
                    .with_header(MESSAGE_ID_HEADER, job.message_id.as_str()),
                );
                continue;
            }
            self.metrics.recipients.with_label_values(&["device"]).inc();
            for device in devices {
                pushes.entry(device.vendor).or_default().push(DevicePush {
                    app_id: job.app_id.clone(),
                    message_id: job.message_id.clone(),
                    user_id: user.clone(),
                    push_id: device.push_id,
                    vendor: device.vendor,
                    token: device.token,
                    token_gen: device.token_gen,
                    package: device.package,
                    notification: job.notification.clone(),
                    expires_at_ms: job.expires_at_ms,
                    attempt: 0,
                    not_before_ms: 0,
                    replays: 0,
                });
            }
        }
        Ok(())
    }
}

/// Makes the store's writes durable once the batch's outputs are confirmed, before it is acked.
fn flush(store: &Arc<dyn DeviceStore>) -> Commit {
    let store = store.clone();
    blocking_commit(move || store.flush())
}

impl StageHandler for ResolveHandler {
    async fn handle(&mut self, batch: &[Delivery]) -> Result<Work, AmqpError> {
        let mut out = Vec::new();
        let mut wrote = false;
        let mut pushes: BTreeMap<Vendor, Vec<DevicePush>> = BTreeMap::new();
        for d in batch {
            match codec::decode::<Batch<RegistryItem>>(&d.data) {
                Ok(b) => {
                    for item in b.items {
                        wrote |= !matches!(item, RegistryItem::Job(_));
                        self.apply(item, &mut pushes, &mut out)
                            .map_err(AmqpError::stage)?;
                    }
                }
                Err(e) => out.push(dead_letter(d, "registry", e)),
            }
        }
        for (vendor, list) in pushes {
            self.metrics
                .pushes
                .with_label_values(&[vendor.as_str()])
                .inc_by(list.len() as u64);
            for chunk in list.chunks(MAX_PUSHES_PER_MESSAGE) {
                let body = codec::encode(&Batch {
                    items: chunk.to_vec(),
                });
                out.push(Outgoing::to_queue(topology::dispatch_queue(vendor), body));
            }
        }
        // Binding changes are durable before the events are acked. Pushes resolved with them
        // may go out first: if the changes are lost, the events come back and are applied
        // again, and the pushes are resolved again (dispatchers drop the repeats).
        Ok(Handled {
            outputs: out,
            commit: wrote.then(|| flush(&self.store)),
        }
        .into())
    }
}

/// Deletes the devices of `invalid_token` outcomes, unless their token changed since the send.
pub struct InvalidTokenHandler {
    pub store: Arc<dyn DeviceStore>,
    pub metrics: Metrics,
}

impl StageHandler for InvalidTokenHandler {
    async fn handle(&mut self, batch: &[Delivery]) -> Result<Work, AmqpError> {
        let mut out = Vec::new();
        for d in batch {
            let outcome: Outcome = match serde_json::from_slice(&d.data) {
                Ok(o) => o,
                Err(e) => {
                    out.push(dead_letter(d, "invalid-tokens", e));
                    continue;
                }
            };
            let Some(push_id) = outcome.push_id.as_deref() else {
                continue;
            };
            let token_gen = header(d, TOKEN_GEN_HEADER).and_then(|g| g.parse().ok());
            let removed = self
                .store
                .remove(&outcome.app_id, push_id, token_gen)
                .map_err(AmqpError::stage)?;
            if removed {
                tracing::info!(app_id = %outcome.app_id, push_id, vendor = %outcome.vendor, "device deleted: vendor says its token is dead");
                self.metrics
                    .deleted
                    .with_label_values(&["invalid_token"])
                    .inc();
            }
        }
        Ok(Handled {
            outputs: out,
            commit: Some(flush(&self.store)),
        }
        .into())
    }
}

fn header(d: &Delivery, name: &str) -> Option<String> {
    use lapin::types::AMQPValue;
    let headers = d.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}
