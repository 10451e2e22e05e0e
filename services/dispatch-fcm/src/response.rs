//! FCM's answers, in one table (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode):
//! classified on `error.details[].errorCode`, falling back to the HTTP status.

use pushmesh_dispatch::{Answer, Attempt};
use serde::Deserialize;
use std::time::Duration;

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorInner,
}

#[derive(Deserialize, Default)]
struct ErrorInner {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
    #[serde(rename = "fieldViolations")]
    field_violations: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Success {
    name: Option<String>,
}

/// `quota_wait`: the least wait after QUOTA_EXCEEDED (FCM asks for a minute).
pub fn classify(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    quota_wait: Duration,
) -> Answer {
    use Attempt::*;
    if status == 200 {
        let name = serde_json::from_slice::<Success>(body)
            .ok()
            .and_then(|s| s.name);
        return Answer::Done(vec![Delivered {
            vendor_message_id: name,
        }]);
    }
    let err = serde_json::from_slice::<ErrorBody>(body)
        .unwrap_or_default()
        .error;
    let code = err.details.iter().find_map(|d| d.error_code.clone());
    let has_field_violations = err.details.iter().any(|d| d.field_violations.is_some());
    let detail = format!(
        "FCM {status} {}: {}",
        code.as_deref().unwrap_or(&err.status),
        err.message
    );
    let retry = |min: Duration| Retry {
        not_before: Some(retry_after.unwrap_or_default().max(min)),
        detail: detail.clone(),
    };
    let attempt = match (code.as_deref(), status) {
        (Some("UNREGISTERED"), _) | (Some("SENDER_ID_MISMATCH"), _) => InvalidToken { detail },
        (Some("INVALID_ARGUMENT"), _) if !has_field_violations && names_the_token(&err.message) => {
            InvalidToken { detail }
        }
        // A rate limit, not a failure: wait as asked, without using up an attempt.
        (Some("QUOTA_EXCEEDED"), _) | (None, 429) => Defer {
            wait: retry_after.unwrap_or_default().max(quota_wait),
            detail,
        },
        (Some("UNAVAILABLE" | "INTERNAL" | "UNSPECIFIED_ERROR"), _) => retry(Duration::ZERO),
        (Some("THIRD_PARTY_AUTH_ERROR" | "APNS_AUTH_ERROR"), _) => Rejected { detail },
        // 401 without an FcmError: the OAuth token is stale.
        (None, 401) => return Answer::AuthExpired,
        (_, s) if s >= 500 => retry(Duration::ZERO),
        _ => Rejected { detail },
    };
    Answer::Done(vec![attempt])
}

/// FCM's INVALID_ARGUMENT covers both a bad token and a bad message; only the former kills the
/// device. Google's text for it: "The registration token is not a valid FCM registration token".
fn names_the_token(message: &str) -> bool {
    message.to_ascii_lowercase().contains("registration token")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(status: u16, code: Option<&str>, message: &str) -> Vec<u8> {
        let mut details = vec![];
        if let Some(c) = code {
            details.push(json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": c}));
        }
        json!({"error": {"code": status, "message": message, "status": "X", "details": details}})
            .to_string()
            .into_bytes()
    }

    fn done(status: u16, retry_after: Option<u64>, body: &[u8]) -> Attempt {
        match classify(
            status,
            retry_after.map(Duration::from_secs),
            body,
            Duration::from_secs(60),
        ) {
            Answer::Done(mut a) if a.len() == 1 => a.pop().unwrap(),
            other => panic!("expected a final answer, got {other:?}"),
        }
    }

    #[test]
    fn success_carries_the_message_name() {
        let a = done(200, None, br#"{"name":"projects/p/messages/123"}"#);
        assert_eq!(
            a,
            Attempt::Delivered {
                vendor_message_id: Some("projects/p/messages/123".into())
            }
        );
    }

    #[test]
    fn dead_tokens() {
        assert_eq!(
            done(404, None, &err(404, Some("UNREGISTERED"), "gone")).label(),
            "invalid_token"
        );
        assert_eq!(
            done(403, None, &err(403, Some("SENDER_ID_MISMATCH"), "x")).label(),
            "invalid_token"
        );
        let bad_token = err(
            400,
            Some("INVALID_ARGUMENT"),
            "The registration token is not a valid FCM registration token",
        );
        assert_eq!(done(400, None, &bad_token).label(), "invalid_token");
        let bad_field = err(
            400,
            Some("INVALID_ARGUMENT"),
            "Invalid value at 'message.data[0].value'",
        );
        assert_eq!(done(400, None, &bad_field).label(), "rejected");
    }

    #[test]
    fn retries_honour_retry_after_and_the_quota_minute() {
        let quota = done(429, Some(5), &err(429, Some("QUOTA_EXCEEDED"), "slow down"));
        assert!(matches!(quota, Attempt::Defer { wait, .. } if wait == Duration::from_secs(60)));
        let quota_long = done(
            429,
            Some(90),
            &err(429, Some("QUOTA_EXCEEDED"), "slow down"),
        );
        assert!(
            matches!(quota_long, Attempt::Defer { wait, .. } if wait == Duration::from_secs(90))
        );
        let unavailable = done(503, Some(3), &err(503, Some("UNAVAILABLE"), "busy"));
        assert!(
            matches!(unavailable, Attempt::Retry { not_before: Some(d), .. } if d == Duration::from_secs(3))
        );
        assert_eq!(
            done(502, None, b"<html>bad gateway</html>").label(),
            "retry"
        );
    }

    #[test]
    fn stale_oauth_token_and_configuration_errors() {
        let unauth = json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}});
        assert_eq!(
            classify(
                401,
                None,
                unauth.to_string().as_bytes(),
                Duration::from_secs(60)
            ),
            Answer::AuthExpired
        );
        assert_eq!(
            done(401, None, &err(401, Some("THIRD_PARTY_AUTH_ERROR"), "apns")).label(),
            "rejected"
        );
        assert_eq!(done(400, None, &err(400, None, "bad")).label(), "rejected");
    }
}
