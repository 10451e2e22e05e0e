//! A batch's vendor requests: each waits for a permit (and, half-open, the probe's turn), goes
//! through its app's vendor actor, and its answers are settled as they arrive.

use super::{Outputs, Shared};
use crate::inflight::Claim;
use crate::{Attempt, SendRequest, VendorApi};
use futures_util::stream::{FuturesUnordered, StreamExt};
use pushmesh_contract::now_ms;
use pushmesh_contract::stage::DevicePush;
use pushmesh_runtime::amqp::AmqpError;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// What a request's answers say about the endpoint's health: Some(true) failing (a transient
/// failure), Some(false) answering, None nothing (only deferrals).
fn health(attempts: &[Attempt]) -> Option<bool> {
    if attempts.iter().any(|a| matches!(a, Attempt::Retry { .. })) {
        Some(true)
    } else if attempts.iter().any(|a| !matches!(a, Attempt::Defer { .. })) {
        Some(false)
    } else {
        None
    }
}

impl<V: VendorApi> Shared<V> {
    /// Sends the requests, at most `concurrency` at a time across the batches in flight, each
    /// through its app's vendor actor, and settles each answer as it arrives: a push the vendor
    /// accepted is recorded at once, so a dispatcher killed mid-batch resends only what was in
    /// flight, not the whole batch.
    pub(super) async fn send_all(
        self: Arc<Self>,
        requests: Vec<Vec<DevicePush>>,
        mut o: Outputs,
        sending: Claim,
    ) -> Result<Outputs, AmqpError> {
        let mut answers: FuturesUnordered<_> = requests
            .into_iter()
            .map(|pushes| self.clone().request(pushes))
            .collect();
        while let Some((pushes, attempts, health)) = answers.next().await {
            let now = now_ms();
            if let Some(failed) = health {
                self.breaker().record(failed, tokio::time::Instant::now());
            }
            let first_new = o.settled.len();
            for (push, attempt) in pushes.into_iter().zip(attempts) {
                self.settle(push, attempt, now, &mut o);
            }
            self.record(&o.settled[first_new..])?;
        }
        drop(sending);
        Ok(o)
    }

    /// One vendor request, once a permit (and, half-open, the probe's turn) is had.
    async fn request(
        self: Arc<Self>,
        pushes: Vec<DevicePush>,
    ) -> (Vec<DevicePush>, Vec<Attempt>, Option<bool>) {
        // The ids travel inside the stage messages; every log line of this request carries
        // them, so one push can be followed from ingest to the vendor.
        let span = tracing::info_span!(
            "vendor_request",
            vendor = %self.vendor,
            message_id = %pushes[0].message_id,
            push_id = %pushes[0].push_id,
            devices = pushes.len(),
        );
        async move {
            let _permit = self.permits.acquire().await.expect("never closed");
            let probing = self.breaker().probing();
            let turn = match probing {
                true => Some(self.probe.lock().await),
                false => None,
            };
            let (open, probe) = {
                let breaker = self.breaker();
                (!breaker.allows(), breaker.probing())
            };
            // A probe that closed the breaker while this request waited frees the others.
            let _turn = turn.filter(|_| probe);
            let n = pushes.len();
            if open {
                let detail = "circuit open: the vendor endpoint is failing".to_owned();
                let wait = Duration::from_secs(1);
                return (pushes, vec![Attempt::Defer { wait, detail }; n], None);
            }
            let started = Instant::now();
            let actor = self.actors[&pushes[0].app_id].0.clone();
            let mut attempts = match actor.send(SendRequest(pushes.clone())).await {
                Ok(a) if a.len() == n => a,
                Ok(_) => {
                    vec![Attempt::retry("vendor client answered for the wrong number of pushes"); n]
                }
                Err(e) => vec![Attempt::retry(format!("vendor actor unavailable: {e}")); n],
            };
            let health = health(&attempts);
            if probe {
                // A failed probe is the outage's fault, not this push's: it waits without using
                // up an attempt, so a long outage ends no push early.
                for a in attempts.iter_mut() {
                    if let Attempt::Retry { detail, .. } = a {
                        let detail = format!("probe of a failing endpoint: {detail}");
                        *a = Attempt::Defer {
                            wait: Duration::from_secs(1),
                            detail,
                        };
                    }
                }
            }
            self.metrics
                .request_seconds
                .with_label_values(&[] as &[&str])
                .observe(started.elapsed().as_secs_f64());
            (pushes, attempts, health)
        }
        .instrument(span)
        .await
    }
}
