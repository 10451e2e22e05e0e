//! The dispatcher stage, the same for every vendor: device pushes in; vendor requests out
//! through the vendor actors; outcomes, retries (into broker delay queues) and parked pushes
//! published; only then is the input acked. Pushes already settled (see `sent`) are not sent
//! again: their outcome is published again instead.
//!
//! A batch's vendor requests run as [`Work::Later`]: the stage takes the next batch while this
//! one's slowest answers are outstanding, so one slow request does not hold up the pushes behind
//! it. Each request goes to its app's vendor actor, which decides when it is sent; what the
//! batches share (the actors, the pushes in flight) lives in [`Shared`].

mod send;
mod settle;

use crate::inflight::{Claim, InFlight};
use crate::retry::RetryPolicy;
use crate::sent::{SentStore, Settled};
use crate::support::is_invite;
use crate::{VendorActor, VendorApi};
use actix::Addr;
use prometheus::{Histogram, IntCounterVec};
use pushmesh_contract::public::{CallEvent, Outcome, OutcomeStatus};
use pushmesh_contract::stage::{Batch, DevicePush};
use pushmesh_contract::trace::TraceWhat;
use pushmesh_contract::{codec, now_ms, Vendor};
use pushmesh_runtime::amqp::topology::{
    self, Lane, ERROR_HEADER, MESSAGE_ID_HEADER, PUSH_ID_HEADER, TOKEN_GEN_HEADER,
    TOKEN_KIND_HEADER,
};
use pushmesh_runtime::amqp::{
    blocking_commit, AmqpError, Commit, Delivery, Handled, Outgoing, StageHandler, Work,
};
use pushmesh_runtime::ops::Ops;
use pushmesh_runtime::trace::{About, TraceBatch, Tracer};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct DispatchMetrics {
    /// Vendor answers per push, by result (delivered, invalid_token, rejected, retry).
    pub attempts: IntCounterVec,
    /// Final outcomes, by status.
    pub outcomes: IntCounterVec,
    /// Redelivered pushes that were already settled and not sent again.
    pub duplicates: IntCounterVec,
    /// From ingest accepting the message to the vendor accepting the push.
    pub delivery_seconds: Histogram,
}

impl DispatchMetrics {
    pub fn new(ops: &Ops) -> Self {
        DispatchMetrics {
            attempts: ops.counter(
                "dispatch_attempts_total",
                "Vendor answers per push, by result.",
                &["result"],
            ),
            outcomes: ops.counter(
                "dispatch_outcomes_total",
                "Final outcomes of pushes, by status.",
                &["status"],
            ),
            duplicates: ops.counter(
                "dispatch_duplicates_total",
                "Redelivered pushes already settled, not sent to the vendor again.",
                &[],
            ),
            delivery_seconds: ops
                .histogram(
                    "dispatch_delivery_seconds",
                    "From ingest accepting a message to the vendor accepting its push.",
                    &[],
                )
                .with_label_values(&[] as &[&str]),
        }
    }
}

pub struct DispatchHandler<V: VendorApi> {
    shared: Arc<Shared<V>>,
    last_purge_ms: u64,
}

/// What the batches in flight share.
struct Shared<V: VendorApi> {
    vendor: Vendor,
    /// Per app: its vendor actor and the most devices one of its requests may carry.
    actors: HashMap<String, (Addr<VendorActor<V>>, usize)>,
    sent: Arc<dyn SentStore>,
    /// Pushes some batch in flight is sending.
    sending: InFlight,
    /// The call lane's delay tiers, in seconds.
    call_tiers: Vec<u64>,
    policy: RetryPolicy,
    metrics: DispatchMetrics,
    tracer: Tracer,
}

/// App, message and call event: what one vendor request may mix no more than.
type RequestKey = (String, String, Option<CallEvent>);

/// Everything one batch produces.
struct Outputs {
    out: Vec<Outgoing>,
    trace: TraceBatch,
    /// When the batch's requests went to the vendor actors.
    sent_at_ms: u64,
    waits: BTreeMap<Duration, Vec<DevicePush>>,
    parked: Vec<DevicePush>,
    /// Messages that stop phones ringing for calls that ended while their invitations were out.
    withdrawals: Vec<DevicePush>,
    settled: Vec<(DevicePush, Settled)>,
}

impl<V: VendorApi> DispatchHandler<V> {
    /// `actors`: per configured app id, its vendor actor and batch size.
    pub fn new(
        vendor: Vendor,
        actors: HashMap<String, (Addr<VendorActor<V>>, usize)>,
        sent: Arc<dyn SentStore>,
        policy: RetryPolicy,
        call_tiers: Vec<u64>,
        metrics: DispatchMetrics,
        tracer: Tracer,
    ) -> Self {
        let shared = Shared {
            tracer,
            vendor,
            actors,
            sent,
            sending: InFlight::default(),
            call_tiers,
            policy,
            metrics,
        };
        DispatchHandler {
            shared: Arc::new(shared),
            last_purge_ms: 0,
        }
    }

    /// Settled pushes are durable before the input is acked (their outcomes may go out first:
    /// if the record is lost, the redelivered push is sent again, as after any crash); now and
    /// then expired pushes are forgotten.
    fn commit(&mut self) -> Commit {
        let sent = self.shared.sent.clone();
        let now = now_ms();
        let purge = now.saturating_sub(self.last_purge_ms) > 60_000;
        if purge {
            self.last_purge_ms = now;
        }
        blocking_commit(move || {
            sent.flush()?;
            if purge {
                let purged = sent.purge(now)?;
                tracing::debug!(purged, "expired settled pushes forgotten");
            }
            Ok::<_, crate::sent::SentError>(())
        })
    }
}

impl<V: VendorApi> Shared<V> {
    fn outcome(&self, push: &DevicePush, s: &Settled) -> Outgoing {
        let o = Outcome {
            app_id: push.app_id.clone(),
            message_id: push.message_id.clone(),
            user_id: push.user_id.clone(),
            push_id: Some(push.push_id.clone()),
            vendor: self.vendor.as_str().to_owned(),
            status: s.status,
            vendor_message_id: s.vendor_message_id.clone(),
            detail: s.detail.clone(),
            call_id: None,
            call_event: None,
            at_ms: now_ms(),
        }
        .of_call(push.call.as_ref());
        let body = serde_json::to_vec(&o).expect("outcomes serialize");
        let out = Outgoing::json(topology::OUTCOMES_EXCHANGE, o.routing_key(), body)
            .with_header(MESSAGE_ID_HEADER, push.message_id.as_str())
            .with_header(PUSH_ID_HEADER, push.push_id.as_str())
            .with_header(TOKEN_GEN_HEADER, push.token_gen.to_string());
        match push.voip {
            true => out.with_header(TOKEN_KIND_HEADER, "voip"),
            false => out,
        }
    }

    /// A push's final outcome: published, and remembered so a redelivery is not sent again.
    fn finish(
        &self,
        o: &mut Outputs,
        push: DevicePush,
        status: OutcomeStatus,
        vendor_message_id: Option<String>,
        detail: Option<String>,
    ) {
        self.metrics
            .outcomes
            .with_label_values(&[status.as_str()])
            .inc();
        let what = TraceWhat::Outcome {
            status,
            detail: detail.clone(),
        };
        o.trace.record(self.about(&push), what);
        let settled = Settled {
            status,
            vendor_message_id,
            detail,
        };
        o.out.push(self.outcome(&push, &settled));
        // Pushes that ran out of attempts or of time are kept for an operator to inspect and
        // replay (`pushmesh-cli replay <vendor>`).
        if matches!(status, OutcomeStatus::Failed | OutcomeStatus::Expired) {
            o.parked.push(push.clone());
        }
        o.settled.push((push, settled));
    }

    /// Splits input into what is sent now (grouped into vendor requests) and what is not, and
    /// marks the batch's pushes as in flight. It yields after each delivery (up to 1,000
    /// pushes): the call lane's stage shares this thread, and a call must not wait for a
    /// batch of group pushes to be planned.
    async fn plan(
        &self,
        batch: &[Delivery],
        now: u64,
        o: &mut Outputs,
    ) -> Result<(Vec<Vec<DevicePush>>, Claim), AmqpError> {
        // One request carries pushes of one app, one message and (for calls) one event.
        let mut groups: BTreeMap<RequestKey, Vec<DevicePush>> = BTreeMap::new();
        let mut taken = self.sending.claim();
        for d in batch {
            let items = match codec::decode::<Batch<DevicePush>>(&d.data) {
                Ok(b) => b.items,
                Err(e) => {
                    tracing::error!(error = %e, "undecodable dispatch batch sent to the dead-letter queue");
                    o.out.push(
                        Outgoing::to_queue(topology::DEAD_LETTER_QUEUE, d.data.clone())
                            .with_header(ERROR_HEADER, format!("dispatch.{}: {e}", self.vendor)),
                    );
                    continue;
                }
            };
            tokio::task::yield_now().await;
            for push in items {
                // The same push twice in flight is handled once (see `inflight`).
                if !taken.take(&push) {
                    self.metrics
                        .duplicates
                        .with_label_values(&[] as &[&str])
                        .inc();
                    continue;
                }
                if let Some(settled) = self.sent.get(&push).map_err(AmqpError::stage)? {
                    self.metrics
                        .duplicates
                        .with_label_values(&[] as &[&str])
                        .inc();
                    o.out.push(self.outcome(&push, &settled));
                } else if self.call_ended(&push)? {
                    let detail = "the call ended before the push was sent".to_owned();
                    self.finish(o, push, OutcomeStatus::Cancelled, None, Some(detail));
                } else if push.expires_at_ms <= now {
                    self.finish(
                        o,
                        push,
                        OutcomeStatus::Expired,
                        None,
                        Some("TTL passed before sending".into()),
                    );
                } else if push.not_before_ms > now {
                    let tier = self
                        .policy
                        .tier_for(Duration::from_millis(push.not_before_ms - now));
                    o.waits.entry(tier).or_default().push(push);
                } else if !self.actors.contains_key(&push.app_id) {
                    let detail = format!("app `{}` has no {} settings", push.app_id, self.vendor);
                    self.finish(o, push, OutcomeStatus::Rejected, None, Some(detail));
                } else {
                    let key = (
                        push.app_id.clone(),
                        push.message_id.clone(),
                        push.call_event(),
                    );
                    groups.entry(key).or_default().push(push);
                }
            }
        }
        let requests = groups
            .into_iter()
            .flat_map(|((app, _, _), g)| {
                let max = self.actors.get(&app).map_or(1, |(_, max)| *max);
                g.chunks(max)
                    .map(<[DevicePush]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok((requests, taken))
    }

    /// What a trace event about `push` is about.
    fn about<'a>(&self, push: &'a DevicePush) -> About<'a> {
        About {
            push_id: Some(&push.push_id),
            vendor: Some(self.vendor),
            ..About::message(&push.app_id, &push.message_id)
                .user(&push.user_id)
                .accepted(push.accepted_us)
                .dry_run(push.dry_run)
        }
    }

    /// The messages a batch's settled and waiting pushes become.
    fn outputs(&self, o: Outputs) -> Vec<Outgoing> {
        let Outputs {
            mut out,
            trace,
            waits,
            parked,
            withdrawals,
            ..
        } = o;
        out.extend(trace.output());
        if !withdrawals.is_empty() {
            let queue = topology::dispatch_queue(self.vendor, Lane::Call);
            out.push(Outgoing::to_queue(
                queue,
                codec::encode(&Batch { items: withdrawals }),
            ));
        }
        for (tier, items) in waits {
            let (calls, messages): (Vec<_>, Vec<_>) =
                items.into_iter().partition(|p| p.call.is_some());
            for (lane, items) in [(Lane::Message, messages), (Lane::Call, calls)] {
                if !items.is_empty() {
                    let queue = self.retry_queue(lane, tier.as_secs());
                    out.push(Outgoing::to_queue(queue, codec::encode(&Batch { items })));
                }
            }
        }
        if !parked.is_empty() {
            out.push(
                Outgoing::to_queue(
                    topology::parked_queue(self.vendor),
                    codec::encode(&Batch { items: parked }),
                )
                .with_header(ERROR_HEADER, "retries ran out"),
            );
        }
        out
    }

    /// Whether `push` is an invitation of a call that ended for its user.
    fn call_ended(&self, push: &DevicePush) -> Result<bool, AmqpError> {
        if !is_invite(push) {
            return Ok(false);
        }
        let ended = self.sent.ended_call(&push.app_id, &push.message_id);
        let ended = ended.map_err(AmqpError::stage)?;
        Ok(ended.is_some_and(|e| e.invitees.is_none_or(|u| u.contains(&push.user_id))))
    }

    /// A vendor accepted an invitation: remembered, to withdraw it when the call ends; and
    /// withdrawn at once if the call ended while the request was out.
    fn rang(&self, push: &DevicePush, o: &mut Outputs) {
        if let Err(e) = self.sent.put_rung(push) {
            tracing::error!(error = %e, call_id = %push.message_id, "cannot remember a rung call");
        }
        if V::WITHDRAWS && self.call_ended(push).unwrap_or(false) {
            o.withdrawals.push(crate::calls::withdrawal(push.clone()));
        }
    }

    /// The delay queue of `lane` for a wait of `seconds`: the call lane's tiers stop at the
    /// longest call, and a call push that must wait longer waits there again.
    fn retry_queue(&self, lane: Lane, seconds: u64) -> String {
        let seconds = match lane {
            Lane::Message => seconds,
            Lane::Call => {
                let tiers = &self.call_tiers;
                let fits = tiers.iter().rev().find(|t| **t <= seconds);
                fits.or(tiers.first()).copied().unwrap_or(seconds)
            }
        };
        topology::retry_queue(self.vendor, lane, seconds)
    }

    fn record(&self, settled: &[(DevicePush, Settled)]) -> Result<(), AmqpError> {
        self.sent.put(settled).map_err(AmqpError::stage)
    }
}

impl<V: VendorApi> StageHandler for DispatchHandler<V> {
    async fn handle(&mut self, batch: &[Delivery]) -> Result<Work, AmqpError> {
        let mut o = Outputs {
            out: Vec::new(),
            trace: self.shared.tracer.batch(),
            sent_at_ms: 0,
            waits: BTreeMap::new(),
            parked: Vec::new(),
            withdrawals: Vec::new(),
            settled: Vec::new(),
        };
        let (requests, sending) = self.shared.plan(batch, now_ms(), &mut o).await?;
        self.shared.record(&o.settled)?;
        let commit = self.commit();
        let shared = self.shared.clone();
        // The requests run in a task of their own, which a session ending (a broker failure
        // drops the batch's later work) does not stop: answers already on their way are still
        // recorded, so the redelivered pushes are not sent again.
        let answered = tokio::spawn(shared.clone().send_all(requests, o, sending));
        Ok(Work::Later(Box::pin(async move {
            let o = answered.await.map_err(AmqpError::stage)??;
            Ok(Handled {
                outputs: shared.outputs(o),
                commit: Some(commit),
            })
        })))
    }
}
