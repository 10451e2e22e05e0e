//! APNs answers, in one table (Apple's "Handling notification responses from APNs").

use pushmesh_dispatch::{Answer, Attempt};
use serde::Deserialize;
use std::time::Duration;

#[derive(Deserialize, Default)]
struct Reason {
    #[serde(default)]
    reason: String,
}

pub fn classify(status: u16, apns_id: Option<String>, body: &[u8]) -> Answer {
    let reason = serde_json::from_slice::<Reason>(body)
        .unwrap_or_default()
        .reason;
    let detail = format!("APNs {status} {reason}");
    let attempt = match (status, reason.as_str()) {
        (200, _) => Attempt::Delivered {
            vendor_message_id: apns_id,
        },
        // The token is no longer active for the topic. (APNs' timestamp says since when; the
        // registry's token generation check keeps a device that re-registered meanwhile.)
        (410, _) => Attempt::InvalidToken { detail },
        (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => Attempt::InvalidToken { detail },
        (403, "ExpiredProviderToken") => return Answer::AuthExpired,
        (400, "IdleTimeout") => Attempt::retry(detail),
        // A new provider token sooner than 20 minutes after the last: the old one is gone
        // (a restart keeps it, so this is rare), and the next token may be made in time.
        (429, "TooManyProviderTokenUpdates") => Attempt::Retry {
            not_before: Some(Duration::from_secs(60)),
            detail,
        },
        // Too many pushes to one device: a rate limit, not an outage. It waits without using an
        // attempt or counting against the breaker.
        (429, _) => Attempt::Defer {
            wait: Duration::from_secs(1),
            detail,
        },
        (500, _) | (503, _) => Attempt::retry(detail),
        (s, _) if s >= 500 => Attempt::retry(detail),
        _ => Attempt::Rejected { detail },
    };
    Answer::Done(vec![attempt])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(a: Answer) -> &'static str {
        match a {
            Answer::Done(a) => a[0].label(),
            Answer::AuthExpired => "auth",
        }
    }

    #[test]
    fn reasons() {
        assert_eq!(label(classify(200, Some("id".into()), b"")), "delivered");
        assert_eq!(
            label(classify(
                410,
                None,
                br#"{"reason":"Unregistered","timestamp":1}"#
            )),
            "invalid_token"
        );
        assert_eq!(
            label(classify(400, None, br#"{"reason":"BadDeviceToken"}"#)),
            "invalid_token"
        );
        assert_eq!(
            label(classify(
                400,
                None,
                br#"{"reason":"DeviceTokenNotForTopic"}"#
            )),
            "invalid_token"
        );
        assert_eq!(
            label(classify(403, None, br#"{"reason":"ExpiredProviderToken"}"#)),
            "auth"
        );
        assert_eq!(
            label(classify(403, None, br#"{"reason":"InvalidProviderToken"}"#)),
            "rejected"
        );
        assert_eq!(
            label(classify(429, None, br#"{"reason":"TooManyRequests"}"#)),
            "deferred"
        );
        assert_eq!(
            label(classify(503, None, br#"{"reason":"ServiceUnavailable"}"#)),
            "retry"
        );
        assert_eq!(
            label(classify(413, None, br#"{"reason":"PayloadTooLarge"}"#)),
            "rejected"
        );
        assert_eq!(
            label(classify(400, None, br#"{"reason":"BadCollapseId"}"#)),
            "rejected"
        );
    }
}
