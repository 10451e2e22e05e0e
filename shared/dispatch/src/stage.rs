//! The dispatcher stage, the same for every vendor: device pushes in; vendor requests out
//! through the vendor actors; outcomes, retries (into broker delay queues) and parked pushes
//! published; only then is the input acked.

use crate::retry::{RetryDecision, RetryPolicy};
use crate::{Attempt, SendRequest, VendorActor, VendorApi};
use actix::Addr;
use futures_util::{stream, StreamExt};
use prometheus::{HistogramVec, IntCounterVec};
use pushmesh_contract::public::{Outcome, OutcomeStatus};
use pushmesh_contract::stage::{Batch, DevicePush};
use pushmesh_contract::{codec, now_ms, Vendor};
use pushmesh_runtime::amqp::topology::{
    self, ERROR_HEADER, MESSAGE_ID_HEADER, PUSH_ID_HEADER, TOKEN_GEN_HEADER,
};
use pushmesh_runtime::amqp::{AmqpError, Delivery, Outgoing, StageHandler};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tracing::Instrument;

#[derive(Clone)]
pub struct DispatchMetrics {
    /// Vendor answers per push, by result (delivered, invalid_token, rejected, retry).
    pub attempts: IntCounterVec,
    /// Final outcomes, by status.
    pub outcomes: IntCounterVec,
    /// Vendor request latency.
    pub request_seconds: HistogramVec,
}

pub struct DispatchHandler<V: VendorApi> {
    vendor: Vendor,
    /// Per app: its vendor actor and the most devices one of its requests may carry.
    actors: HashMap<String, (Addr<VendorActor<V>>, usize)>,
    concurrency: usize,
    policy: RetryPolicy,
    metrics: DispatchMetrics,
}

impl<V: VendorApi> DispatchHandler<V> {
    /// `actors`: per configured app id, its vendor actor and batch size.
    pub fn new(
        vendor: Vendor,
        actors: HashMap<String, (Addr<VendorActor<V>>, usize)>,
        concurrency: usize,
        policy: RetryPolicy,
        metrics: DispatchMetrics,
    ) -> Self {
        DispatchHandler {
            vendor,
            actors,
            concurrency: concurrency.max(1),
            policy,
            metrics,
        }
    }

    fn outcome(
        &self,
        push: &DevicePush,
        status: OutcomeStatus,
        vendor_message_id: Option<String>,
        detail: Option<String>,
    ) -> Outgoing {
        self.metrics
            .outcomes
            .with_label_values(&[status.as_str()])
            .inc();
        let o = Outcome {
            app_id: push.app_id.clone(),
            message_id: push.message_id.clone(),
            user_id: push.user_id.clone(),
            push_id: Some(push.push_id.clone()),
            vendor: self.vendor.as_str().to_owned(),
            status,
            vendor_message_id,
            detail,
            at_ms: now_ms(),
        };
        Outgoing::json(
            topology::OUTCOMES_EXCHANGE,
            o.routing_key(),
            serde_json::to_vec(&o).expect("outcomes serialize"),
        )
        .with_header(MESSAGE_ID_HEADER, push.message_id.as_str())
        .with_header(PUSH_ID_HEADER, push.push_id.as_str())
        .with_header(TOKEN_GEN_HEADER, push.token_gen.to_string())
    }

    /// Splits input into what is sent now (grouped into vendor requests) and what is not.
    fn plan(
        &self,
        batch: &[Delivery],
        now: u64,
        out: &mut Vec<Outgoing>,
        waits: &mut BTreeMap<Duration, Vec<DevicePush>>,
    ) -> Vec<Vec<DevicePush>> {
        let mut groups: BTreeMap<(String, String), Vec<DevicePush>> = BTreeMap::new();
        for d in batch {
            let items = match codec::decode::<Batch<DevicePush>>(&d.data) {
                Ok(b) => b.items,
                Err(e) => {
                    tracing::error!(error = %e, "undecodable dispatch batch sent to the dead-letter queue");
                    out.push(
                        Outgoing::to_queue(topology::DEAD_LETTER_QUEUE, d.data.clone())
                            .with_header(ERROR_HEADER, format!("dispatch.{}: {e}", self.vendor)),
                    );
                    continue;
                }
            };
            for push in items {
                if push.expires_at_ms <= now {
                    out.push(self.outcome(
                        &push,
                        OutcomeStatus::Expired,
                        None,
                        Some("TTL passed before sending".into()),
                    ));
                } else if push.not_before_ms > now {
                    let tier = self
                        .policy
                        .tier_for(Duration::from_millis(push.not_before_ms - now));
                    waits.entry(tier).or_default().push(push);
                } else if !self.actors.contains_key(&push.app_id) {
                    let detail = format!("app `{}` has no {} settings", push.app_id, self.vendor);
                    out.push(self.outcome(&push, OutcomeStatus::Rejected, None, Some(detail)));
                } else {
                    groups
                        .entry((push.app_id.clone(), push.message_id.clone()))
                        .or_default()
                        .push(push);
                }
            }
        }
        groups
            .into_iter()
            .flat_map(|((app, _), g)| {
                let max = self.actors.get(&app).map_or(1, |(_, max)| *max);
                g.chunks(max)
                    .map(<[DevicePush]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn settle(
        &self,
        mut push: DevicePush,
        attempt: Attempt,
        now: u64,
        out: &mut Vec<Outgoing>,
        waits: &mut BTreeMap<Duration, Vec<DevicePush>>,
        parked: &mut Vec<DevicePush>,
    ) {
        self.metrics
            .attempts
            .with_label_values(&[attempt.label()])
            .inc();
        match attempt {
            Attempt::Delivered { vendor_message_id } => {
                out.push(self.outcome(&push, OutcomeStatus::Delivered, vendor_message_id, None));
            }
            Attempt::InvalidToken { detail } => {
                out.push(self.outcome(&push, OutcomeStatus::InvalidToken, None, Some(detail)));
            }
            Attempt::Rejected { detail } => {
                tracing::warn!(message_id = %push.message_id, push_id = %push.push_id, %detail, "push rejected");
                out.push(self.outcome(&push, OutcomeStatus::Rejected, None, Some(detail)));
            }
            Attempt::Retry { not_before, detail } => {
                push.attempt += 1;
                match self.policy.decide(
                    push.attempt,
                    not_before,
                    now,
                    push.expires_at_ms,
                    fastrand::f64(),
                ) {
                    RetryDecision::Wait {
                        tier,
                        not_before_ms,
                    } => {
                        tracing::info!(message_id = %push.message_id, push_id = %push.push_id, attempt = push.attempt, wait_s = tier.as_secs(), %detail, "push will be retried");
                        push.not_before_ms = not_before_ms;
                        waits.entry(tier).or_default().push(push);
                    }
                    RetryDecision::GiveUp => {
                        let detail = format!("gave up after {} attempts: {detail}", push.attempt);
                        out.push(self.outcome(&push, OutcomeStatus::Failed, None, Some(detail)));
                        parked.push(push);
                    }
                    RetryDecision::Expire => {
                        let detail = format!("TTL passes before the next attempt: {detail}");
                        out.push(self.outcome(&push, OutcomeStatus::Expired, None, Some(detail)));
                    }
                }
            }
        }
    }
}

impl<V: VendorApi> StageHandler for DispatchHandler<V> {
    async fn handle(&mut self, batch: &[Delivery]) -> Result<Vec<Outgoing>, AmqpError> {
        let now = now_ms();
        let mut out = Vec::new();
        let mut waits: BTreeMap<Duration, Vec<DevicePush>> = BTreeMap::new();
        let mut parked = Vec::new();
        let requests = self.plan(batch, now, &mut out, &mut waits);

        let results: Vec<(Vec<DevicePush>, Vec<Attempt>)> = stream::iter(requests)
            .map(|pushes| {
                let actor = self.actors[&pushes[0].app_id].0.clone();
                let latency = self.metrics.request_seconds.clone();
                // The ids travel inside the stage messages; every log line of this request
                // carries them, so one push can be followed from ingest to the vendor.
                let span = tracing::info_span!(
                    "vendor_request",
                    vendor = %self.vendor,
                    message_id = %pushes[0].message_id,
                    push_id = %pushes[0].push_id,
                    devices = pushes.len(),
                );
                async move {
                    let started = Instant::now();
                    let attempts = match actor.send(SendRequest(pushes.clone())).await {
                        Ok(a) if a.len() == pushes.len() => a,
                        Ok(_) => vec![
                            Attempt::retry(
                                "vendor client answered for the wrong number of pushes"
                            );
                            pushes.len()
                        ],
                        Err(e) => vec![
                            Attempt::retry(format!("vendor actor unavailable: {e}"));
                            pushes.len()
                        ],
                    };
                    latency
                        .with_label_values(&[] as &[&str])
                        .observe(started.elapsed().as_secs_f64());
                    (pushes, attempts)
                }
                .instrument(span)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;

        let now = now_ms();
        for (pushes, attempts) in results {
            for (push, attempt) in pushes.into_iter().zip(attempts) {
                self.settle(push, attempt, now, &mut out, &mut waits, &mut parked);
            }
        }
        for (tier, items) in waits {
            out.push(Outgoing::to_queue(
                topology::retry_queue(self.vendor, tier.as_secs()),
                codec::encode(&Batch { items }),
            ));
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
        Ok(out)
    }
}
