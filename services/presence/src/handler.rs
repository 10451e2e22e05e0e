//! Presence's stage: apply session events in order, pass offline recipients on to the registry,
//! answer `online` for the rest.

use crate::sessions::Sessions;
use prometheus::{IntCounterVec, IntGaugeVec};
use pushmesh_contract::public::{Outcome, OutcomeStatus};
use pushmesh_contract::stage::{Batch, PresenceItem, PushJob, RegistryItem};
use pushmesh_contract::trace::{TraceStage, TraceWhat};
use pushmesh_contract::{codec, now_ms};
use pushmesh_runtime::amqp::topology::{self, Lane, ERROR_HEADER, MESSAGE_ID_HEADER};
use pushmesh_runtime::amqp::{AmqpError, Delivery, Outgoing, StageHandler, Work};
use pushmesh_runtime::trace::{About, TraceBatch, Tracer};
use pushmesh_runtime::Settings;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub struct PresenceHandler {
    settings: Arc<Settings>,
    sessions: Arc<Mutex<Sessions>>,
    recipients: IntCounterVec,
    online_sessions: IntGaugeVec,
    last_sweep_ms: u64,
    tracer: Tracer,
}

impl PresenceHandler {
    pub fn new(
        settings: Arc<Settings>,
        sessions: Arc<Mutex<Sessions>>,
        recipients: IntCounterVec,
        online_sessions: IntGaugeVec,
    ) -> Self {
        PresenceHandler {
            tracer: Tracer::new(TraceStage::Presence, &settings.trace),
            settings,
            sessions,
            recipients,
            online_sessions,
            last_sweep_ms: 0,
        }
    }

    fn job(
        &self,
        sessions: &Sessions,
        mut job: PushJob,
        now: u64,
        offline: &mut BTreeMap<Lane, Vec<RegistryItem>>,
        out: &mut Outputs,
    ) {
        let expired = job.expires_at_ms <= now;
        let (mut online_users, mut offline_users) = (Vec::new(), Vec::new());
        for user in std::mem::take(&mut job.recipients) {
            let about = About::message(&job.app_id, &job.message_id)
                .user(&user)
                .accepted(job.accepted_us)
                .dry_run(job.dry_run);
            let live = sessions.live(&job.app_id, &user, now);
            if expired {
                let (status, detail) = (OutcomeStatus::Expired, None);
                out.trace
                    .record(about, TraceWhat::Outcome { status, detail });
                out.out.push(outcome(&job, &user, OutcomeStatus::Expired));
                self.recipients.with_label_values(&["expired"]).inc();
            } else if live > 0 {
                let sessions = live as u32;
                out.trace.record(about, TraceWhat::Online { sessions });
                online_users.push(user);
            } else {
                out.trace.record(about, TraceWhat::Offline);
                offline_users.push(user);
            }
        }
        let out = &mut out.out;
        for user in online_users {
            self.recipients.with_label_values(&["online"]).inc();
            out.push(outcome(&job, &user, OutcomeStatus::Online));
        }
        if !offline_users.is_empty() {
            self.recipients
                .with_label_values(&["offline"])
                .inc_by(offline_users.len() as u64);
            let lane = Lane::of(job.call.as_ref());
            offline
                .entry(lane)
                .or_default()
                .push(RegistryItem::Job(PushJob {
                    recipients: offline_users,
                    ..job
                }));
        }
    }
}

/// A batch's outputs, and what its trace records.
struct Outputs {
    out: Vec<Outgoing>,
    trace: TraceBatch,
}

fn outcome(job: &PushJob, user: &str, status: OutcomeStatus) -> Outgoing {
    let o =
        Outcome::recipient(&job.app_id, &job.message_id, user, status).of_call(job.call.as_ref());
    let body = serde_json::to_vec(&o).expect("outcomes serialize");
    Outgoing::json(topology::OUTCOMES_EXCHANGE, o.routing_key(), body)
        .with_header(MESSAGE_ID_HEADER, job.message_id.as_str())
}

impl StageHandler for PresenceHandler {
    async fn handle(&mut self, batch: &[Delivery]) -> Result<Work, AmqpError> {
        let now = now_ms();
        let max_ttl_ms = self.settings.presence.max_session_ttl_s * 1000;
        let mut out = Outputs {
            out: Vec::new(),
            trace: self.tracer.batch(),
        };
        let mut offline = BTreeMap::new();
        let sessions = self.sessions.clone();
        let mut sessions = sessions
            .lock()
            .expect("presence state lock is never poisoned");
        for d in batch {
            let items: Batch<PresenceItem> = match codec::decode(&d.data) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "undecodable presence batch sent to the dead-letter queue");
                    out.out.push(
                        Outgoing::to_queue(topology::DEAD_LETTER_QUEUE, d.data.clone())
                            .with_header(ERROR_HEADER, format!("presence: {e}")),
                    );
                    continue;
                }
            };
            for item in items.items {
                match item {
                    PresenceItem::Online {
                        app_id,
                        user_id,
                        session_id,
                        ttl_s,
                    } => {
                        // A huge ttl_s from a publisher must not overflow: it is capped anyway.
                        let until = now + ttl_s.saturating_mul(1000).min(max_ttl_ms);
                        sessions.online(&app_id, &user_id, &session_id, until);
                    }
                    PresenceItem::Offline {
                        app_id,
                        user_id,
                        session_id,
                    } => {
                        sessions.offline(&app_id, &user_id, &session_id);
                    }
                    PresenceItem::Job(job) => self.job(&sessions, job, now, &mut offline, &mut out),
                }
            }
        }
        for (lane, items) in offline {
            // Presence and registry share the sharding, so our shard's users live in the
            // registry shard with the same number.
            let queue = topology::registry_queue(self.settings.presence.shard, lane);
            out.out
                .push(Outgoing::to_queue(queue, codec::encode(&Batch { items })));
        }
        let Outputs { mut out, trace } = out;
        out.extend(trace.output());
        if now.saturating_sub(self.last_sweep_ms) > 10_000 {
            self.last_sweep_ms = now;
            sessions.sweep(now);
        }
        self.online_sessions
            .with_label_values(&[] as &[&str])
            .set(sessions.len() as i64);
        Ok(out.into())
    }
}
