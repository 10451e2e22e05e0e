//! `POST /honor/api/v1/{appId}/sendMessage`.

use super::VENDOR;
use crate::state::SimState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use pushmesh_contract::now_ms;
use serde_json::{json, Value};

const MAX_TOKENS: usize = 1000;
const MAX_BODY_BYTES: usize = 4096;
const MAX_TTL_S: u64 = 15 * 86_400;

fn answer(status: u16, code: i64, message: &str, data: Value) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .json(json!({"code": code, "message": message, "data": data}))
}

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
    let tokens: Vec<String> = parsed["token"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let (status, accepted, response) = state.with(VENDOR, |v| {
        if v.token_owner(&bearer, now) != Some(app_id.as_str()) {
            return (
                401,
                vec![],
                answer(
                    401,
                    80200003,
                    "access token expired or invalid",
                    json!(null),
                ),
            );
        }
        if req.headers().get("timestamp").is_none() {
            return (
                400,
                vec![],
                answer(400, 80100001, "header timestamp is required", json!(null)),
            );
        }
        if let Some(f) = v.take_fault(now) {
            return (
                f.status,
                vec![],
                answer(f.status, 81000001, "vendor-sim fault", json!(null)),
            );
        }
        if let Err(message) = validate(&parsed, tokens.len()) {
            return (400, vec![], answer(400, 80100003, &message, json!(null)));
        }
        let (expired, good): (Vec<String>, Vec<String>) = tokens
            .iter()
            .cloned()
            .partition(|t| v.dead_tokens.contains(t));
        let data = json!({
            "sendResult": !good.is_empty(), "requestId": uuid::Uuid::new_v4().simple().to_string(),
            "failTokens": [], "expireTokens": expired,
        });
        (200, good, answer(200, 200, "success", data))
    });
    state.with(VENDOR, |v| v.record(now, status, tokens, accepted, parsed));
    response
}

fn validate(body: &Value, n_tokens: usize) -> Result<(), String> {
    if !(1..=MAX_TOKENS).contains(&n_tokens) {
        return Err(format!("token must hold 1 to {MAX_TOKENS} tokens"));
    }
    if body.get("data").is_some_and(|d| !d.is_string()) {
        return Err("data must be a string".into());
    }
    let android = &body["android"];
    if let Some(ttl) = android.get("ttl") {
        let secs = ttl
            .as_str()
            .and_then(|t| t.strip_suffix('s'))
            .and_then(|t| t.parse::<u64>().ok());
        if secs.is_none_or(|s| s > MAX_TTL_S) {
            return Err("android.ttl must be like \"86400s\", at most 15 days".into());
        }
    }
    let n = &android["notification"];
    // A message without a notification is a data message: it must carry data.
    if n.is_null() && body.get("data").is_none() {
        return Err("a message needs android.notification or data".into());
    }
    if !n.is_null() && (!n["title"].is_string() || !n["body"].is_string()) {
        return Err("android.notification.title and body are required".into());
    }
    if !n.is_null() && !matches!(n["clickAction"]["type"].as_u64(), Some(1..=3)) {
        return Err("android.notification.clickAction.type must be 1, 2 or 3".into());
    }
    if n.get("notifyId").is_some_and(|i| !i.is_u64()) {
        return Err("android.notification.notifyId must be an integer".into());
    }
    if let Some(i) = n.get("importance") {
        if !matches!(i.as_str(), Some("LOW" | "NORMAL")) {
            return Err("android.notification.importance must be LOW or NORMAL".into());
        }
    }
    let mut without_tokens = body.clone();
    without_tokens.as_object_mut().map(|m| m.remove("token"));
    if without_tokens.to_string().len() > MAX_BODY_BYTES {
        return Err("message body exceeds 4096 bytes".into());
    }
    Ok(())
}
