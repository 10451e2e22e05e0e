//! The one outcome type every vendor's response table maps to.

use pushmesh_contract::trace::VendorRequest;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The vendor accepted the push.
    Delivered { vendor_message_id: Option<String> },
    /// The token is dead: the device is deleted.
    InvalidToken { detail: String },
    /// Refused for good (bad request, payload too large, configuration): no retry helps.
    Rejected { detail: String },
    /// The attempt failed; try again later, not before `not_before` if the vendor said so
    /// (Retry-After). Counts toward the attempt limit and the circuit breaker.
    Retry {
        not_before: Option<Duration>,
        detail: String,
    },
    /// Not now: a quota or rate limit, the vendor's or pushmesh's own. The push waits (in the
    /// broker) at least `wait`; this is no failure: it neither uses an attempt nor trips the
    /// breaker, and only the push's TTL ends the waiting.
    Defer { wait: Duration, detail: String },
    /// Not sent: the call it belongs to ended first.
    Cancelled { detail: String },
    /// Not sent: a dry run; these are the requests that would have gone, redacted.
    DryRun { requests: Vec<VendorRequest> },
    /// The vendor said the token is dead, but so many of its answers say so that the
    /// settings are suspect (the dead-token guard): held as failed, parked, nothing deleted.
    Held { detail: String },
}

impl Attempt {
    pub fn retry(detail: impl Into<String>) -> Self {
        Attempt::Retry {
            not_before: None,
            detail: detail.into(),
        }
    }

    /// The same result with `token` cut out of its detail: a vendor's error body may echo the
    /// token, and details reach logs and outcomes, where tokens never go.
    pub fn without_token(mut self, token: &str) -> Self {
        let detail = match &mut self {
            Attempt::Delivered { .. } | Attempt::DryRun { .. } => return self,
            Attempt::InvalidToken { detail }
            | Attempt::Rejected { detail }
            | Attempt::Retry { detail, .. }
            | Attempt::Defer { detail, .. }
            | Attempt::Cancelled { detail }
            | Attempt::Held { detail } => detail,
        };
        if !token.is_empty() && detail.contains(token) {
            *detail = detail.replace(token, "<token>");
        }
        self
    }

    /// The metric label of this result.
    pub fn label(&self) -> &'static str {
        match self {
            Attempt::Delivered { .. } => "delivered",
            Attempt::InvalidToken { .. } => "invalid_token",
            Attempt::Rejected { .. } => "rejected",
            Attempt::Retry { .. } => "retry",
            Attempt::Defer { .. } => "deferred",
            Attempt::Cancelled { .. } => "cancelled",
            Attempt::DryRun { .. } => "dry_run",
            Attempt::Held { .. } => "held",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detail_never_carries_the_token() {
        let echoed = Attempt::InvalidToken {
            detail: "400 {\"error\":\"bad token abc123def\"}".into(),
        };
        assert_eq!(
            echoed.without_token("abc123def"),
            Attempt::InvalidToken {
                detail: "400 {\"error\":\"bad token <token>\"}".into()
            }
        );
        let other = Attempt::retry("503 busy");
        assert_eq!(other.clone().without_token("abc123def"), other);
    }
}
