//! The registry's two stages: resolving offline recipients to their devices (and applying
//! binding events, in order), and deleting devices whose token a vendor declared dead.

use crate::store::{Device, DeviceStore, StoreError};
use prometheus::IntCounterVec;
use pushmesh_contract::public::{CallEvent, Outcome, OutcomeStatus};
use pushmesh_contract::stage::{Batch, DevicePush, PushJob, RegistryItem, MAX_PUSHES_PER_MESSAGE};
use pushmesh_contract::trace::TraceWhat;
use pushmesh_contract::{codec, Vendor};
use pushmesh_runtime::amqp::topology::{
    self, Lane, ERROR_HEADER, MESSAGE_ID_HEADER, TOKEN_GEN_HEADER, TOKEN_KIND_HEADER,
};
use pushmesh_runtime::amqp::{
    blocking_commit, AmqpError, Commit, Delivery, Handled, Outgoing, StageHandler, Work,
};
use pushmesh_runtime::ops::Ops;
use pushmesh_runtime::trace::{About, TraceBatch, Tracer};
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

impl Metrics {
    pub fn new(ops: &Ops) -> Self {
        Metrics {
            recipients: ops.counter(
                "registry_recipients_total",
                "Offline recipients resolved, by result.",
                &["result"],
            ),
            pushes: ops.counter(
                "registry_pushes_total",
                "Device pushes handed to dispatchers, by vendor.",
                &["vendor"],
            ),
            bindings: ops.counter(
                "registry_bindings_total",
                "Binding events applied, by event and result.",
                &["event", "result"],
            ),
            deleted: ops.counter(
                "registry_devices_deleted_total",
                "Devices deleted by the registry, by reason.",
                &["reason"],
            ),
        }
    }
}

pub struct ResolveHandler {
    pub store: Arc<dyn DeviceStore>,
    pub metrics: Metrics,
    pub tracer: Tracer,
}

/// A batch's outputs, and what its trace records.
pub(crate) struct Out {
    outgoing: Vec<Outgoing>,
    trace: TraceBatch,
}

impl Out {
    fn push(&mut self, o: Outgoing) {
        self.outgoing.push(o);
    }

    fn finish(self) -> Vec<Outgoing> {
        let mut out = self.outgoing;
        out.extend(self.trace.output());
        out
    }
}

fn dead_letter(d: &Delivery, stage: &str, reason: impl std::fmt::Display) -> Outgoing {
    tracing::error!(%reason, "undecodable {stage} message sent to the dead-letter queue");
    Outgoing::to_queue(topology::DEAD_LETTER_QUEUE, d.data.clone())
        .with_header(ERROR_HEADER, format!("{stage}: {reason}"))
}

impl ResolveHandler {
    /// Takes one item of a batch: a job joins the run of jobs; a binding event first resolves
    /// the run (those jobs came before it, so must not see it), then is applied. Returns
    /// whether the store changed.
    fn take(
        &self,
        item: RegistryItem,
        run: &mut Vec<PushJob>,
        pushes: &mut BTreeMap<(Vendor, Lane), Vec<DevicePush>>,
        out: &mut Out,
    ) -> Result<bool, StoreError> {
        let (event, result) = match item {
            RegistryItem::Job(job) => {
                run.push(job);
                return Ok(false);
            }
            RegistryItem::Bind {
                app_id,
                user_id,
                push_id,
            } => {
                self.resolve(std::mem::take(run), pushes, out)?;
                let result = match self.store.bind(&app_id, &push_id, &user_id) {
                    Ok(()) => "applied",
                    Err(StoreError::NotFound(_)) => "unknown_device",
                    Err(e) => return Err(e),
                };
                ("bind", result)
            }
            RegistryItem::Unbind {
                app_id,
                user_id,
                push_id,
            } => {
                self.resolve(std::mem::take(run), pushes, out)?;
                let result = match self.store.unbind(&app_id, &push_id, Some(&user_id)) {
                    Ok(true) => "applied",
                    Ok(false) => "not_bound",
                    Err(StoreError::NotFound(_)) => "unknown_device",
                    Err(e) => return Err(e),
                };
                ("unbind", result)
            }
        };
        self.metrics
            .bindings
            .with_label_values(&[event, result])
            .inc();
        Ok(true)
    }

    /// Resolves a run of jobs (no binding event between them) with one read of the store.
    fn resolve(
        &self,
        jobs: Vec<PushJob>,
        pushes: &mut BTreeMap<(Vendor, Lane), Vec<DevicePush>>,
        out: &mut Out,
    ) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let recipients: Vec<(&PushJob, &str)> = jobs
            .iter()
            .flat_map(|job| job.recipients.iter().map(move |u| (job, u.as_str())))
            .collect();
        let users: Vec<(&str, &str)> = recipients
            .iter()
            .map(|(job, user)| (job.app_id.as_str(), *user))
            .collect();
        let found = self.store.devices_of_each(&users)?;
        debug_assert_eq!(found.len(), users.len(), "one list of devices a user");
        for ((job, user), devices) in recipients.into_iter().zip(found) {
            self.resolved(job, user, devices, pushes, out);
        }
        Ok(())
    }

    /// What one recipient's devices make: a push each, or a `no_device` outcome.
    fn resolved(
        &self,
        job: &PushJob,
        user: &str,
        devices: Vec<Device>,
        pushes: &mut BTreeMap<(Vendor, Lane), Vec<DevicePush>>,
        out: &mut Out,
    ) {
        let about = About::message(&job.app_id, &job.message_id)
            .user(user)
            .accepted(job.accepted_us)
            .dry_run(job.dry_run);
        let push_ids = devices.iter().map(|d| d.push_id.clone()).collect();
        out.trace.record(about, TraceWhat::Devices { push_ids });
        if devices.is_empty() {
            self.metrics
                .recipients
                .with_label_values(&["no_device"])
                .inc();
            let o = Outcome::recipient(&job.app_id, &job.message_id, user, OutcomeStatus::NoDevice)
                .of_call(job.call.as_ref());
            out.push(
                Outgoing::json(
                    topology::OUTCOMES_EXCHANGE,
                    o.routing_key(),
                    serde_json::to_vec(&o).expect("outcomes serialize"),
                )
                .with_header(MESSAGE_ID_HEADER, job.message_id.as_str()),
            );
            return;
        }
        self.metrics.recipients.with_label_values(&["device"]).inc();
        let lane = Lane::of(job.call.as_ref());
        for device in devices {
            let push = device_push(job, user, device);
            pushes.entry((push.vendor, lane)).or_default().push(push);
        }
    }
}

/// `job`'s push to one of `user`'s devices. A call rings an iPhone through PushKit when the
/// app registered a VoIP token.
pub(crate) fn device_push(job: &PushJob, user: &str, device: Device) -> DevicePush {
    let rings = job
        .call
        .as_ref()
        .is_some_and(|c| c.event == CallEvent::Invite);
    let (token, token_gen, voip) = match device.voip_token {
        Some(voip) if rings => (voip, device.voip_gen, true),
        _ => (device.token, device.token_gen, false),
    };
    DevicePush {
        app_id: job.app_id.clone(),
        message_id: job.message_id.clone(),
        user_id: user.to_owned(),
        push_id: device.push_id,
        vendor: device.vendor,
        token,
        token_gen,
        package: device.package,
        notification: job.notification.clone(),
        expires_at_ms: job.expires_at_ms,
        attempt: 0,
        not_before_ms: 0,
        replays: 0,
        call: job.call.clone(),
        accepted_us: job.accepted_us,
        dry_run: job.dry_run,
        voip,
    }
}

/// Recipients resolved before the registry lets other work on its thread run.
const RESOLVE_CHUNK: usize = 2_000;

/// Makes the store's writes durable once the batch's outputs are confirmed, before it is acked.
fn flush(store: &Arc<dyn DeviceStore>) -> Commit {
    let store = store.clone();
    blocking_commit(move || store.flush())
}

impl StageHandler for ResolveHandler {
    async fn handle(&mut self, batch: &[Delivery]) -> Result<Work, AmqpError> {
        let mut out = Out {
            outgoing: Vec::new(),
            trace: self.tracer.batch(),
        };
        let mut wrote = false;
        let mut pushes: BTreeMap<(Vendor, Lane), Vec<DevicePush>> = BTreeMap::new();
        // Jobs are resolved in runs, a run before the binding event after it is applied: each
        // job sees exactly the bindings that came before it, and a run costs one store read.
        let mut run = Vec::new();
        for d in batch {
            match codec::decode::<Batch<RegistryItem>>(&d.data) {
                Ok(b) => {
                    for item in b.items {
                        wrote |= self
                            .take(item, &mut run, &mut pushes, &mut out)
                            .map_err(AmqpError::stage)?;
                    }
                }
                Err(e) => out.push(dead_letter(d, "registry", e)),
            }
            // A run is resolved once it holds a group's worth of recipients, and the thread is
            // let go: the call lane's stage shares it, and a call must not wait for a batch of
            // group messages to be resolved.
            if run.iter().map(|j| j.recipients.len()).sum::<usize>() >= RESOLVE_CHUNK {
                self.resolve(std::mem::take(&mut run), &mut pushes, &mut out)
                    .map_err(AmqpError::stage)?;
                tokio::task::yield_now().await;
            }
        }
        self.resolve(run, &mut pushes, &mut out)
            .map_err(AmqpError::stage)?;
        for ((vendor, lane), list) in pushes {
            self.metrics
                .pushes
                .with_label_values(&[vendor.as_str()])
                .inc_by(list.len() as u64);
            for chunk in list.chunks(MAX_PUSHES_PER_MESSAGE) {
                let body = codec::encode(&Batch {
                    items: chunk.to_vec(),
                });
                out.push(Outgoing::to_queue(
                    topology::dispatch_queue(vendor, lane),
                    body,
                ));
            }
        }
        // Binding changes are durable before the events are acked. Pushes resolved with them
        // may go out first: if the changes are lost, the events come back and are applied
        // again, and the pushes are resolved again (dispatchers drop the repeats).
        Ok(Handled {
            outputs: out.finish(),
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
            if header(d, TOKEN_KIND_HEADER).as_deref() == Some("voip") {
                let gen = token_gen.unwrap_or(0);
                let cleared = self.store.clear_voip_token(&outcome.app_id, push_id, gen);
                if cleared.map_err(AmqpError::stage)? {
                    tracing::info!(app_id = %outcome.app_id, push_id, "VoIP token forgotten: APNs says it is dead");
                }
                continue;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedbDevices;
    use pushmesh_contract::stage::Notification;
    use pushmesh_contract::trace::TraceStage;

    fn handler(dir: &std::path::Path) -> ResolveHandler {
        ResolveHandler {
            store: Arc::new(RedbDevices::open(&dir.join("r.redb"), 1 << 20).unwrap()),
            metrics: Metrics::new(&Ops::new()),
            tracer: Tracer::new(TraceStage::Registry, &Default::default()),
        }
    }

    fn job(message_id: &str, recipients: &[&str]) -> RegistryItem {
        RegistryItem::Job(PushJob {
            app_id: "app".into(),
            message_id: message_id.into(),
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
            notification: Notification::default(),
            expires_at_ms: u64::MAX,
            call: None,
            accepted_us: 0,
            dry_run: false,
        })
    }

    /// Feeds `items` as one batch does; the messages pushed to each user, in order.
    fn run(h: &ResolveHandler, items: Vec<RegistryItem>) -> Vec<(String, String)> {
        let mut out = Out {
            outgoing: Vec::new(),
            trace: h.tracer.batch(),
        };
        let (mut run, mut pushes) = (Vec::new(), BTreeMap::new());
        for item in items {
            h.take(item, &mut run, &mut pushes, &mut out).unwrap();
        }
        h.resolve(run, &mut pushes, &mut out).unwrap();
        let pushes: Vec<DevicePush> = pushes.into_values().flatten().collect();
        pushes
            .into_iter()
            .map(|p| (p.message_id, p.user_id))
            .collect()
    }

    #[test]
    fn a_job_sees_the_bindings_before_it_in_its_batch_and_none_after() {
        let dir = tempfile::tempdir().unwrap();
        let h = handler(dir.path());
        let (phone, _) = h
            .store
            .register("app", Vendor::Fcm, "tok", None, None)
            .unwrap();
        let bind = |user: &str| RegistryItem::Bind {
            app_id: "app".into(),
            user_id: user.into(),
            push_id: phone.clone(),
        };
        let pushed = run(
            &h,
            vec![
                job("m1", &["bob"]),
                bind("bob"),
                job("m2", &["alice", "bob"]),
                job("m3", &["bob"]),
                bind("alice"),
                job("m4", &["bob", "alice"]),
            ],
        );
        let expected = [("m2", "bob"), ("m3", "bob"), ("m4", "alice")];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(m, u)| (m.to_string(), u.to_string()))
            .collect();
        assert_eq!(pushed, expected);
        let no_device = h.metrics.recipients.with_label_values(&["no_device"]);
        assert_eq!(no_device.get(), 3, "m1 to bob, m2 to alice, m4 to bob");
    }
}
