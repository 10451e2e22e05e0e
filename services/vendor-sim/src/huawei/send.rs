//! `POST /huawei/v1/{appId}/messages:send`.

use super::{answer, VENDOR};
use crate::state::SimState;
use actix_web::{web, HttpRequest, HttpResponse};
use pushmesh_contract::now_ms;
use serde_json::Value;

const MAX_TOKENS: usize = 1000;
const MAX_BODY_BYTES: usize = 4096;
const MAX_TTL_S: u64 = 1_296_000;
const CATEGORIES: [&str; 11] = [
    "IM",
    "VOIP",
    "SUBSCRIPTION",
    "TRAVEL",
    "HEALTH",
    "WORK",
    "ACCOUNT",
    "EXPRESS",
    "FINANCE",
    "DEVICE_REMINDER",
    "MARKETING",
];

pub async fn send(
    state: web::Data<SimState>,
    req: HttpRequest,
    app_id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let latency = state.with(VENDOR, |v| v.latency_ms);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let now = now_ms();
    let bearer = crate::bearer(&req);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let tokens: Vec<String> = parsed["message"]["token"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();

    let (status, accepted, response) = state.with(VENDOR, |v| {
        if v.token_owner(&bearer, now) != Some(app_id.as_str()) {
            return (401, vec![], answer(401, "80200003", "OAuth token expired."));
        }
        if let Some(f) = v.take_fault(now) {
            let status = if f.status == 500 { 500 } else { 503 };
            return (
                status,
                vec![],
                answer(status, "81000001", "vendor-sim fault: system busy"),
            );
        }
        if let Err((code, msg)) = validate(&parsed, tokens.len()) {
            return (400, vec![], answer(400, code, &msg));
        }
        let illegal: Vec<&String> = tokens
            .iter()
            .filter(|t| v.dead_tokens.contains(*t))
            .collect();
        let good: Vec<String> = tokens
            .iter()
            .filter(|t| !v.dead_tokens.contains(*t))
            .cloned()
            .collect();
        let response = if illegal.is_empty() {
            answer(200, "80000000", "Success")
        } else if good.is_empty() {
            answer(200, "80300007", "All the tokens are invalid")
        } else {
            let msg = serde_json::json!({
                "success": good.len(), "failure": illegal.len(), "illegal_tokens": illegal,
            });
            answer(200, "80100000", &msg.to_string())
        };
        (200, good, response)
    });
    state.with(VENDOR, |v| v.record(now, status, tokens, accepted, parsed));
    response
}

/// Push Kit's documented rules for the fields pushmesh uses: (result code, message).
fn validate(body: &Value, n_tokens: usize) -> Result<(), (&'static str, String)> {
    let bad = |msg: &str| Err(("80100003", msg.to_owned()));
    let Some(message) = body.get("message").filter(|m| m.is_object()) else {
        return bad("Incorrect message structure: message is required");
    };
    let targets = ["token", "topic", "condition"]
        .iter()
        .filter(|k| message.get(**k).is_some())
        .count();
    if targets != 1 {
        return Err((
            "80100001",
            "exactly one of token, topic and condition must be set".into(),
        ));
    }
    if n_tokens == 0 {
        return Err(("80100001", "token must be a non-empty array".into()));
    }
    if n_tokens > MAX_TOKENS {
        return Err((
            "80300010",
            format!("{n_tokens} tokens, at most {MAX_TOKENS}"),
        ));
    }
    if message.get("data").is_some_and(|d| !d.is_string()) {
        return bad("data must be a string");
    }
    if let Some(android) = message.get("android") {
        if let Some(u) = android.get("urgency") {
            if !matches!(u.as_str(), Some("HIGH" | "NORMAL")) {
                return bad("android.urgency must be HIGH or NORMAL");
            }
        }
        if let Some(c) = android.get("category") {
            if !c.as_str().is_some_and(|c| CATEGORIES.contains(&c)) {
                return bad("android.category is not a known category");
            }
        }
        if let Some(ttl) = android.get("ttl") {
            let secs = ttl
                .as_str()
                .and_then(|t| t.strip_suffix('s'))
                .and_then(|t| t.parse::<u64>().ok());
            if secs.is_none_or(|s| s > MAX_TTL_S) {
                return bad("android.ttl must be a duration like \"86400s\", at most 15 days");
            }
        }
        if let Some(n) = android.get("notification") {
            let click = n
                .get("click_action")
                .and_then(|c| c.get("type"))
                .and_then(Value::as_u64);
            if !matches!(click, Some(1..=3)) {
                return bad("android.notification.click_action.type is required (1, 2 or 3)");
            }
            for field in ["title", "body"] {
                if !n.get(field).is_some_and(Value::is_string) {
                    return bad(&format!("android.notification.{field} is required"));
                }
            }
            if n.get("notify_id").is_some_and(|i| !i.is_i64()) {
                return bad("android.notification.notify_id must be an integer");
            }
        }
    }
    let mut without_tokens = message.clone();
    without_tokens.as_object_mut().map(|m| m.remove("token"));
    let size = without_tokens.to_string().len();
    if size > MAX_BODY_BYTES {
        return Err((
            "80300008",
            format!("The message body size {size} exceeds the default value 4096"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;
    use serde_json::json;

    #[test]
    fn push_kit_rules() {
        let ok = json!({"message": {"token": ["t"], "data": "{}", "android": {"urgency": "HIGH",
            "category": "IM", "ttl": "60s", "notification": {"title": "a", "body": "b", "click_action": {"type": 3}}}}});
        assert!(validate(&ok, 1).is_ok());
        let no_click = json!({"message": {"token": ["t"], "android": {"notification": {"title": "a", "body": "b"}}}});
        assert_eq!(validate(&no_click, 1).unwrap_err().0, "80100003");
        assert_eq!(validate(&ok, 1001).unwrap_err().0, "80300010");
        let big = json!({"message": {"token": ["t"], "data": "x".repeat(5000)}});
        assert_eq!(validate(&big, 1).unwrap_err().0, "80300008");
        let map_data = json!({"message": {"token": ["t"], "data": {"payload": "x"}}});
        assert_eq!(validate(&map_data, 1).unwrap_err().0, "80100003");
    }
}
