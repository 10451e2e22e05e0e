//! A circuit breaker for a vendor endpoint, as plain state: after `threshold` transient failures
//! in a row it opens; while open nothing is sent and the dispatcher stops taking deliveries (they
//! wait in the queue); after the cool-down it lets one probe through (half-open): success closes
//! it, failure opens it again for twice as long (capped).

use crate::Attempt;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open { until: Instant },
    HalfOpen,
}

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    base: Duration,
    max: Duration,
    state: State,
    failures: u32,
    cooldown: Duration,
}

impl Breaker {
    pub fn new(threshold: u32, base: Duration, max: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            base,
            max,
            state: State::Closed,
            failures: 0,
            cooldown: base,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// How long to hold off before sending anything, if open; once the cool-down has passed
    /// the breaker turns half-open and this returns None.
    pub fn wait(&mut self, now: Instant) -> Option<Duration> {
        match self.state {
            State::Open { until } if now < until => Some(until - now),
            State::Open { .. } => {
                self.state = State::HalfOpen;
                None
            }
            _ => None,
        }
    }

    /// May a request go out now? Not while open.
    pub fn allows(&self) -> bool {
        !matches!(self.state, State::Open { .. })
    }

    /// Half-open: send one request at a time until one answers well.
    pub fn probing(&self) -> bool {
        self.state == State::HalfOpen
    }

    /// The vendor answered (`failed`: a transient failure, 5xx or timeout or the like).
    pub fn record(&mut self, failed: bool, now: Instant) {
        if !failed {
            self.state = State::Closed;
            self.failures = 0;
            self.cooldown = self.base;
            return;
        }
        self.failures += 1;
        match self.state {
            State::HalfOpen => self.open(now, true),
            State::Closed if self.failures >= self.threshold => self.open(now, false),
            _ => {}
        }
    }

    fn open(&mut self, now: Instant, again: bool) {
        if again {
            self.cooldown = (self.cooldown * 2).min(self.max);
        }
        tracing::warn!(
            cooldown_ms = self.cooldown.as_millis() as u64,
            "vendor endpoint failing: circuit open"
        );
        self.state = State::Open {
            until: now + self.cooldown,
        };
    }
}

/// What a request's answers say about the endpoint's health: Some(true) failing (a transient
/// failure), Some(false) answering, None nothing (only deferrals).
pub fn health(attempts: &[Attempt]) -> Option<bool> {
    if attempts.iter().any(|a| matches!(a, Attempt::Retry { .. })) {
        Some(true)
    } else if attempts.iter().any(|a| !matches!(a, Attempt::Defer { .. })) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_probes_and_closes() {
        let mut b = Breaker::new(3, Duration::from_secs(1), Duration::from_secs(4));
        let t0 = Instant::now();
        b.record(true, t0);
        b.record(true, t0);
        assert!(b.allows(), "two failures are not an outage");
        b.record(true, t0);
        assert!(!b.allows());
        assert_eq!(b.wait(t0), Some(Duration::from_secs(1)));

        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.wait(Instant::now()), None);
        assert!(b.probing());
        b.record(true, Instant::now()); // the probe failed: open again, for longer
        assert_eq!(b.wait(Instant::now()), Some(Duration::from_secs(2)));

        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(b.wait(Instant::now()), None);
        b.record(false, Instant::now());
        assert_eq!(b.state(), State::Closed);
        b.record(true, Instant::now());
        assert!(b.allows(), "the count starts again after a success");
    }

    #[tokio::test(start_paused = true)]
    async fn cooldown_is_capped() {
        let mut b = Breaker::new(1, Duration::from_secs(1), Duration::from_secs(3));
        for _ in 0..5 {
            b.record(true, Instant::now());
            let wait = b.wait(Instant::now()).unwrap_or_default();
            assert!(wait <= Duration::from_secs(3));
            tokio::time::advance(wait).await;
            b.wait(Instant::now());
        }
    }
}
