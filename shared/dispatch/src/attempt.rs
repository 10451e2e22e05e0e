//! The one outcome type every vendor's response table maps to.

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
}

impl Attempt {
    pub fn retry(detail: impl Into<String>) -> Self {
        Attempt::Retry {
            not_before: None,
            detail: detail.into(),
        }
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
        }
    }
}
