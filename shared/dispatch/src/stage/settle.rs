//! What an attempt becomes: an outcome, or a wait in a delay queue (a retry, a deferral) until
//! the push's attempts or its TTL run out.

use super::{Outputs, Shared};
use crate::retry::RetryDecision;
use crate::support::is_invite;
use crate::{Attempt, VendorApi};
use pushmesh_contract::public::OutcomeStatus;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::trace::TraceWhat;

impl<V: VendorApi> Shared<V> {
    /// Turns a push's attempt into what follows: an outcome, a wait in a delay queue, or both.
    pub(super) fn settle(&self, mut push: DevicePush, attempt: Attempt, now: u64, o: &mut Outputs) {
        let attempt = attempt.without_token(&push.token);
        self.trace_attempt(&push, &attempt, now, o);
        self.metrics
            .attempts
            .with_label_values(&[attempt.label()])
            .inc();
        match attempt {
            Attempt::Delivered { vendor_message_id } => {
                if push.accepted_us > 0 {
                    let took_us = (now * 1000).saturating_sub(push.accepted_us);
                    self.metrics.delivery_seconds.observe(took_us as f64 / 1e6);
                }
                if is_invite(&push) {
                    self.rang(&push, o);
                }
                self.finish(o, push, OutcomeStatus::Delivered, vendor_message_id, None);
            }
            Attempt::InvalidToken { detail } => {
                self.finish(o, push, OutcomeStatus::InvalidToken, None, Some(detail));
            }
            Attempt::Cancelled { detail } => {
                self.finish(o, push, OutcomeStatus::Cancelled, None, Some(detail));
            }
            Attempt::Held { detail } => {
                tracing::warn!(message_id = %push.message_id, push_id = %push.push_id, %detail, "push held by the dead-token guard");
                self.finish(o, push, OutcomeStatus::Failed, None, Some(detail));
            }
            Attempt::DryRun { requests } => {
                let what = TraceWhat::DryRun { requests };
                o.trace.record(self.about(&push), what);
                self.finish(o, push, OutcomeStatus::DryRun, None, None);
            }
            Attempt::Rejected { detail } => {
                tracing::warn!(message_id = %push.message_id, push_id = %push.push_id, %detail, "push rejected");
                self.finish(o, push, OutcomeStatus::Rejected, None, Some(detail));
            }
            Attempt::Defer { wait, detail } => {
                match self.policy.defer(wait, now, push.expires_at_ms) {
                    RetryDecision::Wait {
                        tier,
                        not_before_ms,
                    } => {
                        tracing::info!(message_id = %push.message_id, push_id = %push.push_id, wait_s = wait.as_secs(), %detail, "push deferred");
                        let due_ms = not_before_ms.max(now + tier.as_millis() as u64);
                        let reason = detail.clone();
                        o.trace
                            .record(self.about(&push), TraceWhat::Deferred { due_ms, reason });
                        push.not_before_ms = not_before_ms;
                        o.waits.entry(tier).or_default().push(push);
                    }
                    _ => {
                        let detail = format!("TTL passes before the push may be sent: {detail}");
                        self.finish(o, push, OutcomeStatus::Expired, None, Some(detail));
                    }
                }
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
                        let due_ms = not_before_ms.max(now + tier.as_millis() as u64);
                        let reason = detail.clone();
                        o.trace
                            .record(self.about(&push), TraceWhat::Retry { due_ms, reason });
                        push.not_before_ms = not_before_ms;
                        o.waits.entry(tier).or_default().push(push);
                    }
                    RetryDecision::GiveUp => {
                        let detail = format!("gave up after {} attempts: {detail}", push.attempt);
                        self.finish(o, push, OutcomeStatus::Failed, None, Some(detail));
                    }
                    RetryDecision::Expire => {
                        let detail = format!("TTL passes before the next attempt: {detail}");
                        self.finish(o, push, OutcomeStatus::Expired, None, Some(detail));
                    }
                }
            }
        }
    }

    /// A vendor's answer (or why there was none) in the push's trace; a deferral is traced
    /// where its wait is decided.
    fn trace_attempt(&self, push: &DevicePush, attempt: &Attempt, now: u64, o: &mut Outputs) {
        let (vendor_message_id, detail) = match attempt {
            Attempt::Delivered { vendor_message_id } => (vendor_message_id.clone(), None),
            Attempt::InvalidToken { detail }
            | Attempt::Rejected { detail }
            | Attempt::Retry { detail, .. }
            | Attempt::Held { detail } => (None, Some(detail.clone())),
            Attempt::Defer { .. } | Attempt::Cancelled { .. } | Attempt::DryRun { .. } => return,
        };
        let what = TraceWhat::Sent {
            attempt: push.attempt + 1,
            resources_id: push.notification.resources_id.clone(),
            took_ms: now.saturating_sub(o.sent_at_ms),
            result: attempt.label().to_owned(),
            vendor_message_id,
            detail,
        };
        o.trace.record(self.about(push), what);
    }
}
