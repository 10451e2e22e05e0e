//! `POST /v1/projects/{project}/messages:send`.

use super::{error, VENDOR};
use crate::state::SimState;
use actix_web::{web, HttpRequest, HttpResponse};
use pushmesh_contract::now_ms;
use serde_json::Value;

/// FCM's limit on a message's notification and data together.
const MAX_PAYLOAD: usize = 4096;
const MAX_TTL_S: u64 = 2_419_200;

pub async fn send(
    state: web::Data<SimState>,
    req: HttpRequest,
    project: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let token = parsed
        .as_ref()
        .ok()
        .and_then(|b| b["message"]["token"].as_str())
        .unwrap_or_default()
        .to_owned();
    let latency = state.with(VENDOR, |v| {
        let slowed = v.latency_tokens.is_empty() || v.latency_tokens.contains(&token);
        if slowed {
            v.latency_ms
        } else {
            0
        }
    });
    if latency > 0 {
        state.with(VENDOR, |v| v.held += 1);
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
        state.with(VENDOR, |v| v.held -= 1);
    }
    let now = now_ms();
    let bearer = crate::bearer(&req);

    let (status, response) = state.with(VENDOR, |v| {
        if v.token_owner(&bearer, now).is_none() {
            return (
                401,
                error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", None),
            );
        }
        if let Some(f) = v.take_fault(now) {
            let (status, code) = match f.status {
                429 => ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
                500 => ("INTERNAL", "INTERNAL"),
                _ => ("UNAVAILABLE", "UNAVAILABLE"),
            };
            let mut resp = error(f.status, status, "vendor-sim fault", Some(code));
            if let Some(s) = f.retry_after_s {
                resp.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from(s),
                );
            }
            return (f.status, resp);
        }
        match &parsed {
            Ok(b) => {
                if let Err(reason) = validate(b) {
                    return (400, invalid(&reason));
                }
            }
            Err(e) => {
                return (400, error(400, "INVALID_ARGUMENT", &format!("Invalid JSON payload received. {e}"), None));
            }
        }
        if v.dead_tokens.contains(&token) {
            return (404, error(404, "NOT_FOUND", "Requested entity was not found.", Some("UNREGISTERED")));
        }
        let name = format!("projects/{project}/messages/{}", uuid::Uuid::new_v4().simple());
        (200, HttpResponse::Ok().json(serde_json::json!({ "name": name })))
    });

    let accepted = if status == 200 {
        vec![token.clone()]
    } else {
        vec![]
    };
    state.with(VENDOR, |v| {
        v.record(
            now,
            status,
            vec![token],
            accepted,
            parsed.unwrap_or(Value::Null),
        )
    });
    response
}

fn invalid(message: &str) -> HttpResponse {
    error(400, "INVALID_ARGUMENT", message, Some("INVALID_ARGUMENT"))
}

/// FCM's documented request rules for the fields pushmesh uses; Err is FCM's message text.
fn validate(body: &Value) -> Result<(), String> {
    let Some(message) = body.get("message").filter(|m| m.is_object()) else {
        return Err(String::from(
            "Request contains an invalid argument: `message` is required.",
        ));
    };
    let targets = ["token", "topic", "condition"]
        .iter()
        .filter(|t| message.get(**t).is_some())
        .count();
    if targets != 1 {
        return Err(String::from(
            "Exactly one of message.token, message.topic or message.condition must be set.",
        ));
    }
    let token = message["token"].as_str().unwrap_or_default();
    if token.is_empty() || token.len() > 4096 || token.contains(char::is_whitespace) {
        return Err(String::from(
            "The registration token is not a valid FCM registration token",
        ));
    }
    if let Some(data) = message.get("data") {
        let Some(map) = data.as_object() else {
            return Err(String::from(
                "Invalid value at 'message.data' (type.googleapis.com/google.protobuf.Struct)",
            ));
        };
        if let Some((i, _)) = map.values().enumerate().find(|(_, v)| !v.is_string()) {
            return Err(format!(
                "Invalid value at 'message.data[{i}].value' (TYPE_STRING)"
            ));
        }
    }
    if let Some(n) = message.get("notification") {
        for field in ["title", "body", "image"] {
            if n.get(field).is_some_and(|v| !v.is_string()) {
                return Err(format!(
                    "Invalid value at 'message.notification.{field}' (TYPE_STRING)"
                ));
            }
        }
    }
    if let Some(android) = message.get("android") {
        if let Some(p) = android.get("priority") {
            if !matches!(p.as_str(), Some("HIGH" | "NORMAL" | "high" | "normal")) {
                return Err("Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority)".into());
            }
        }
        let notification = &android["notification"];
        let priorities = [
            "PRIORITY_UNSPECIFIED",
            "PRIORITY_MIN",
            "PRIORITY_LOW",
            "PRIORITY_DEFAULT",
            "PRIORITY_HIGH",
            "PRIORITY_MAX",
        ];
        if let Some(p) = notification.get("notification_priority") {
            if !p.as_str().is_some_and(|p| priorities.contains(&p)) {
                return Err("Invalid value at 'message.android.notification.notification_priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidNotification.NotificationPriority)".into());
            }
        }
        let visibilities = ["VISIBILITY_UNSPECIFIED", "PRIVATE", "PUBLIC", "SECRET"];
        if let Some(v) = notification.get("visibility") {
            if !v.as_str().is_some_and(|v| visibilities.contains(&v)) {
                return Err("Invalid value at 'message.android.notification.visibility' (type.googleapis.com/google.firebase.fcm.v1.AndroidNotification.Visibility)".into());
            }
        }
        if let Some(ttl) = android.get("ttl") {
            let seconds = ttl
                .as_str()
                .and_then(|t| t.strip_suffix('s'))
                .and_then(|t| t.split('.').next())
                .and_then(|t| t.parse::<u64>().ok());
            match seconds {
                Some(s) if s <= MAX_TTL_S => {}
                _ => return Err("Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration)".into()),
            }
        }
    }
    let size = message
        .get("notification")
        .map_or(0, |n| n.to_string().len())
        + message.get("data").map_or(0, |d| d.to_string().len());
    if size > MAX_PAYLOAD {
        return Err("Message is too big".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;
    use serde_json::json;

    fn check(message: serde_json::Value) -> Result<(), String> {
        validate(&json!({ "message": message }))
    }

    #[test]
    fn accepts_what_fcm_accepts() {
        let ok = json!({"token": "t", "notification": {"title": "a", "body": "b"},
            "data": {"payload": "x"}, "android": {"priority": "HIGH", "ttl": "3600s"}});
        assert_eq!(check(ok), Ok(()));
    }

    #[test]
    fn refuses_what_fcm_refuses() {
        let cases = [
            (json!({"notification": {}}), "Exactly one of"),
            (json!({"token": "t", "topic": "x"}), "Exactly one of"),
            (json!({"token": "has space"}), "registration token"),
            (
                json!({"token": "t", "data": {"n": 1}}),
                "message.data[0].value",
            ),
            (
                json!({"token": "t", "android": {"priority": "urgent"}}),
                "android.priority",
            ),
            (
                json!({"token": "t", "android": {"ttl": "86400"}}),
                "android.ttl",
            ),
            (
                json!({"token": "t", "android": {"ttl": "9999999s"}}),
                "android.ttl",
            ),
            (
                json!({"token": "t", "data": {"payload": "x".repeat(5000)}}),
                "too big",
            ),
        ];
        for (message, needle) in cases {
            let err = check(message.clone()).unwrap_err();
            assert!(
                err.contains(needle),
                "{message}: `{err}` should mention `{needle}`"
            );
        }
        assert!(validate(&json!({"msg": {}})).is_err());
    }
}
