//! What an operator sees of one (app, vendor) (the console, through the dispatcher's
//! `/state`): its breaker, today's quota, the requests waiting and out, and the last five
//! minutes' requests and failures.

use super::VendorActor;
use crate::breaker::State;
use crate::VendorApi;
use actix::{Context, Handler, Message, MessageResult};
use pushmesh_contract::now_ms;
use serde::Serialize;
use std::collections::VecDeque;
use tokio::time::Instant;

const MINUTE_MS: u64 = 60_000;
const MINUTES: u64 = 5;

#[derive(Debug, Clone, Serialize)]
pub struct ActorState {
    /// `closed`, `open` or `half_open` (one probe at a time).
    pub breaker: &'static str,
    /// While open: how long until a probe may go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reopens_in_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_quota: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_used_today: Option<u64>,
    /// Requests waiting in the actor for a permit, and out at the vendor.
    pub waiting: usize,
    pub out: usize,
    /// Vendor requests answered in the last five minutes, and how many of them failed
    /// (transient failures, the breaker's kind).
    pub requests_5m: u64,
    pub failures_5m: u64,
    /// The dead-token guard tripped: dead-token answers hold their pushes (parked) and delete
    /// no device until the dispatcher restarts.
    pub dead_token_guard: bool,
}

/// Asks an actor for its [`ActorState`].
pub struct GetState;

impl Message for GetState {
    type Result = ActorState;
}

/// Requests and failures per minute, the last [`MINUTES`].
#[derive(Default)]
pub(super) struct Recent {
    minutes: VecDeque<(u64, u64, u64)>,
}

impl Recent {
    pub(super) fn record(&mut self, failed: bool, now_ms: u64) {
        let minute = now_ms / MINUTE_MS;
        if self.minutes.back().is_none_or(|(m, _, _)| *m != minute) {
            self.minutes.push_back((minute, 0, 0));
        }
        while self.minutes.len() as u64 > MINUTES {
            self.minutes.pop_front();
        }
        if let Some((_, requests, failures)) = self.minutes.back_mut() {
            *requests += 1;
            *failures += u64::from(failed);
        }
    }

    fn sums(&self, now_ms: u64) -> (u64, u64) {
        let since = (now_ms / MINUTE_MS).saturating_sub(MINUTES - 1);
        let recent = self.minutes.iter().filter(|(m, _, _)| *m >= since);
        recent.fold((0, 0), |(r, f), (_, mr, mf)| (r + mr, f + mf))
    }
}

impl<V: VendorApi> Handler<GetState> for VendorActor<V> {
    type Result = MessageResult<GetState>;

    fn handle(&mut self, _: GetState, _: &mut Context<Self>) -> Self::Result {
        let now = now_ms();
        let (breaker, reopens_in_ms) = match self.breaker.state() {
            State::Closed => ("closed", None),
            State::HalfOpen => ("half_open", None),
            State::Open { until } => {
                let left = until.saturating_duration_since(Instant::now());
                ("open", Some(left.as_millis() as u64))
            }
        };
        let store = self.store.clone();
        let quota = self.quota.as_mut();
        let used = quota.map(|q| (q.limit, q.used_today(now, store.as_ref())));
        let (requests_5m, failures_5m) = self.recent.sums(now);
        MessageResult(ActorState {
            breaker,
            reopens_in_ms,
            daily_quota: used.map(|(limit, _)| limit),
            quota_used_today: used.map(|(_, used)| used),
            waiting: self.waiting.len(),
            out: self.out + self.calls_out,
            requests_5m,
            failures_5m,
            dead_token_guard: self.guard.tripped(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_last_five_minutes_only() {
        let mut r = Recent::default();
        r.record(true, 0);
        r.record(false, 30_000);
        assert_eq!(r.sums(60_000), (2, 1));
        r.record(false, 5 * MINUTE_MS);
        assert_eq!(
            r.sums(5 * MINUTE_MS),
            (1, 0),
            "minute 0 is over five minutes old"
        );
    }
}
