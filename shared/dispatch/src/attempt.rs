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
    /// Try again later, not before `not_before` if the vendor said so (Retry-After, quota).
    Retry {
        not_before: Option<Duration>,
        detail: String,
    },
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
        }
    }
}
