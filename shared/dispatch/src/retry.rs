//! Retry policy as plain functions: full-jitter backoff, Retry-After never undercut, and the
//! choice of broker delay queue. Retries wait in the broker, never in a sleeping task, so a
//! crash cannot lose one.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// Delay queue tiers, ascending.
    pub tiers: Vec<Duration>,
}

/// What to do with a push whose attempt asked for a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait in the tier queue of this many seconds.
    Wait { tier: Duration, not_before_ms: u64 },
    /// Attempts ran out.
    GiveUp,
    /// The push would expire before it could be sent again.
    Expire,
}

impl RetryPolicy {
    pub fn from_settings(d: &pushmesh_runtime::settings::DispatchSettings) -> Self {
        RetryPolicy {
            max_attempts: d.max_attempts,
            base: Duration::from_millis(d.backoff_base_ms),
            cap: Duration::from_millis(d.backoff_max_ms),
            tiers: d
                .retry_tiers_s
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
        }
    }

    /// Full jitter: uniformly random in [0, min(cap, base * 2^attempt)], `jitter` in [0, 1).
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .min(self.cap);
        ceiling.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// `attempts_made` includes the one that just failed.
    pub fn decide(
        &self,
        attempts_made: u32,
        vendor_not_before: Option<Duration>,
        now_ms: u64,
        expires_at_ms: u64,
        jitter: f64,
    ) -> RetryDecision {
        if attempts_made >= self.max_attempts {
            return RetryDecision::GiveUp;
        }
        let delay = self
            .backoff(attempts_made - 1, jitter)
            .max(vendor_not_before.unwrap_or_default());
        let not_before_ms = now_ms + delay.as_millis() as u64;
        if not_before_ms >= expires_at_ms {
            return RetryDecision::Expire;
        }
        // The shortest tier that is not shorter than the delay; past the longest tier the push
        // waits there again (dispatchers re-park a push that comes back before `not_before_ms`).
        let tier = self
            .tiers
            .iter()
            .copied()
            .find(|t| *t >= delay)
            .or_else(|| self.tiers.last().copied())
            .unwrap_or(Duration::from_secs(1));
        RetryDecision::Wait {
            tier,
            not_before_ms,
        }
    }

    /// A deferred push (quota, rate limit): it waits at least `wait`, unless its TTL ends first.
    /// No attempt is used up.
    pub fn defer(&self, wait: Duration, now_ms: u64, expires_at_ms: u64) -> RetryDecision {
        let not_before_ms = now_ms + wait.as_millis() as u64;
        if not_before_ms >= expires_at_ms {
            return RetryDecision::Expire;
        }
        RetryDecision::Wait {
            tier: self.tier_for(wait),
            not_before_ms,
        }
    }

    /// The tier for a push that is back early and must wait `remaining` more.
    pub fn tier_for(&self, remaining: Duration) -> Duration {
        self.tiers
            .iter()
            .copied()
            .find(|t| *t >= remaining)
            .or_else(|| self.tiers.last().copied())
            .unwrap_or(Duration::from_secs(1))
    }
}

/// Parses Retry-After given in seconds. (The HTTP-date form is not used by the vendors
/// pushmesh speaks to; it is treated as absent, which falls back to backoff.)
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            tiers: [1, 5, 30, 60].map(Duration::from_secs).to_vec(),
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = policy();
        assert_eq!(p.backoff(0, 0.999_999).as_secs(), 0);
        assert_eq!(p.backoff(3, 1.0), Duration::from_secs(8));
        assert_eq!(p.backoff(3, 0.5), Duration::from_secs(4));
        assert_eq!(p.backoff(20, 1.0), Duration::from_secs(60), "capped");
        assert_eq!(
            p.backoff(3, 0.0),
            Duration::ZERO,
            "full jitter reaches zero"
        );
    }

    #[test]
    fn retry_after_is_never_undercut() {
        let p = policy();
        let d = p.decide(1, Some(Duration::from_secs(7)), 0, u64::MAX, 0.0);
        assert_eq!(
            d,
            RetryDecision::Wait {
                tier: Duration::from_secs(30),
                not_before_ms: 7_000
            }
        );
    }

    #[test]
    fn gives_up_and_expires() {
        let p = policy();
        assert_eq!(p.decide(5, None, 0, u64::MAX, 0.5), RetryDecision::GiveUp);
        assert_eq!(
            p.decide(1, Some(Duration::from_secs(10)), 0, 5_000, 0.5),
            RetryDecision::Expire
        );
    }

    #[test]
    fn long_waits_use_the_longest_tier_and_keep_not_before() {
        let p = policy();
        let d = p.decide(1, Some(Duration::from_secs(200)), 1_000, u64::MAX, 0.0);
        assert_eq!(
            d,
            RetryDecision::Wait {
                tier: Duration::from_secs(60),
                not_before_ms: 201_000
            }
        );
        assert_eq!(p.tier_for(Duration::from_secs(3)), Duration::from_secs(5));
    }

    #[test]
    fn deferral_waits_without_using_an_attempt_or_expires() {
        let p = policy();
        let d = p.defer(Duration::from_secs(3_600), 0, u64::MAX);
        assert_eq!(
            d,
            RetryDecision::Wait {
                tier: Duration::from_secs(60),
                not_before_ms: 3_600_000
            }
        );
        assert_eq!(
            p.defer(Duration::from_secs(10), 0, 5_000),
            RetryDecision::Expire
        );
    }

    #[test]
    fn retry_after_parses_seconds_only() {
        assert_eq!(
            parse_retry_after(Some(" 12 ")),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(parse_retry_after(None), None);
    }
}
