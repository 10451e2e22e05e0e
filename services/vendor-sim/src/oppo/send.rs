//! `unicast` and `unicast_batch`.

use super::{reply, VENDOR};
use crate::state::{SimState, VendorState};
use actix_web::{web, HttpRequest, HttpResponse};
use pushmesh_contract::now_ms;
use serde_json::{json, Value};
use std::collections::HashMap;

const MAX_BATCH: usize = 1000;
const CATEGORIES: [&str; 10] = [
    "IM",
    "ACCOUNT",
    "TODO",
    "DEVICE_REMINDER",
    "ORDER",
    "SUBSCRIPTION",
    "NEWS",
    "CONTENT",
    "MARKETING",
    "SOCIAL",
];

type Form = web::Form<HashMap<String, String>>;

/// Latency, auth, faults: what both endpoints check first. Err is the answer to give.
async fn admit(
    state: &SimState,
    req: &HttpRequest,
    form: &HashMap<String, String>,
    now: u64,
) -> Result<(), (i64, &'static str)> {
    let latency = state.with(VENDOR, |v| v.latency_ms);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let token = form
        .get("auth_token")
        .cloned()
        .or_else(|| {
            req.headers()
                .get("auth_token")
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        })
        .unwrap_or_default();
    state.with(VENDOR, |v| {
        if token.is_empty() {
            return Err((29, "auth_token is missing"));
        }
        if v.token_owner(&token, now).is_none() {
            return Err((11, "Invalid AuthToken"));
        }
        match v.take_fault(now).map(|f| f.status) {
            Some(429) => Err((33, "The number of messages exceeds the daily limit")),
            Some(500) => Err((-1, "Service Currently Unavailable")),
            Some(_) => Err((-2, "Service in Flow Control")),
            None => Ok(()),
        }
    })
}

/// OPPO's rules for a notification message: (code, message).
fn validate(message: &Value) -> Result<&str, (i64, String)> {
    let bad = |m: &str| Err((41, m.to_owned()));
    if message["target_type"] != 2 {
        return bad("target_type must be 2 (registration_id)");
    }
    let Some(target) = message["target_value"].as_str().filter(|t| !t.is_empty()) else {
        return Err((40, "target_value is required".into()));
    };
    let n = &message["notification"];
    let title = n["title"].as_str().unwrap_or_default();
    let content = n["content"].as_str().unwrap_or_default();
    if title.is_empty() || content.is_empty() {
        return Err((
            40,
            "notification.title and notification.content are required".into(),
        ));
    }
    let max_content = if n["style"] == 2 { 128 } else { 50 };
    if title.chars().count() > 50 || content.chars().count() > max_content {
        return bad(&format!(
            "title at most 50 characters, content at most {max_content} for this style"
        ));
    }
    if n["channel_id"].as_str().is_none_or(str::is_empty) {
        return bad("channel_id is required for Android 8 and later");
    }
    if !matches!(n["click_action_type"].as_u64(), Some(0 | 1 | 2 | 4 | 5)) {
        return bad("click_action_type must be 0, 1, 2, 4 or 5");
    }
    if let Some(c) = n.get("category") {
        if !c.as_str().is_some_and(|c| CATEGORIES.contains(&c)) {
            return Err((67, "unknown category".into()));
        }
    }
    if let Some(p) = n.get("action_parameters") {
        let text = p.as_str().unwrap_or_default();
        if text.chars().count() > 4000
            || serde_json::from_str::<serde_json::Map<String, Value>>(text).is_err()
        {
            return bad(
                "action_parameters must be a JSON object string of at most 4000 characters",
            );
        }
    }
    Ok(target)
}

fn send_one(v: &mut VendorState, message: &Value) -> Result<String, (i64, String)> {
    let target = validate(message)?;
    if v.dead_tokens.contains(target) {
        return Err((10000, "Invalid registration_id".into()));
    }
    Ok(target.to_owned())
}

pub async fn unicast(state: web::Data<SimState>, req: HttpRequest, form: Form) -> HttpResponse {
    let now = now_ms();
    let form = form.into_inner();
    if let Err((code, msg)) = admit(&state, &req, &form, now).await {
        state.with(VENDOR, |v| v.record(now, 200, vec![], vec![], json!(form)));
        return reply(code, msg, json!(null));
    }
    let message: Value = form
        .get("message")
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or(Value::Null);
    let target = message["target_value"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    state.with(VENDOR, |v| {
        let result = send_one(v, &message);
        let accepted = result.iter().cloned().collect();
        v.record(now, 200, vec![target], accepted, message);
        match result {
            Ok(_) => reply(
                0,
                "Success",
                json!({"messageId": format!("sim-1-1-{}", uuid::Uuid::new_v4().simple())}),
            ),
            Err((code, msg)) => reply(code, &msg, json!(null)),
        }
    })
}

pub async fn unicast_batch(
    state: web::Data<SimState>,
    req: HttpRequest,
    form: Form,
) -> HttpResponse {
    let now = now_ms();
    let form = form.into_inner();
    if let Err((code, msg)) = admit(&state, &req, &form, now).await {
        state.with(VENDOR, |v| v.record(now, 200, vec![], vec![], json!(form)));
        return reply(code, msg, json!(null));
    }
    let messages: Vec<Value> = form
        .get("messages")
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_default();
    if messages.is_empty() || messages.len() > MAX_BATCH {
        return reply(41, "messages must hold 1 to 1000 messages", json!(null));
    }
    state.with(VENDOR, |v| {
        let (mut tokens, mut accepted, mut results) = (vec![], vec![], vec![]);
        for m in &messages {
            let target = m["target_value"].as_str().unwrap_or_default().to_owned();
            tokens.push(target.clone());
            match send_one(v, m) {
                Ok(t) => {
                    accepted.push(t);
                    results.push(json!({"messageId": format!("sim-1-1-{}", uuid::Uuid::new_v4().simple()), "registrationId": target}));
                }
                Err((code, msg)) => results.push(json!({"registrationId": target, "errorCode": code, "errorMessage": msg})),
            }
        }
        v.record(now, 200, tokens, accepted, json!(messages));
        reply(0, "Success", json!(results))
    })
}
