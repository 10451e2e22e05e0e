//! `POST /xiaomi/v3/message/regid`.

use super::{XiaomiSim, VENDOR};
use crate::state::SimState;
use actix_web::{web, HttpRequest, HttpResponse};
use pushmesh_contract::now_ms;
use serde_json::json;
use std::collections::HashMap;

const MAX_REGIDS: usize = 1000;
const MAX_TTL_MS: u64 = 10 * 86_400_000;

fn error(code: i64, reason: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "result": "error", "code": code, "reason": reason, "description": "发送消息失败",
        "trace_id": uuid::Uuid::new_v4().simple().to_string(),
    }))
}

pub async fn send(
    state: web::Data<SimState>,
    sim: web::Data<XiaomiSim>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let latency = state.with(VENDOR, |v| v.latency_ms);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let now = now_ms();
    let form = form.into_inner();
    let key = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("key="))
        .unwrap_or_default();
    let regids: Vec<String> = form
        .get("registration_id")
        .map(|r| {
            r.split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let body = json!(form);

    let (status, accepted, response) = state.with(VENDOR, |v| {
        let Some(package) = sim.accounts.get(key) else {
            return (200, vec![], error(21301, "Authentication failed"));
        };
        if let Some(f) = v.take_fault(now) {
            return match f.status {
                429 => (200, vec![], error(200001, "exceed quota, quota: 10000, have acked: 10000")),
                500 => (200, vec![], error(10002, "system busy")),
                s => (s, vec![], HttpResponse::ServiceUnavailable().finish()),
            };
        }
        if let Err((code, reason)) = validate(&form, package, regids.len()) {
            return (200, vec![], error(code, &reason));
        }
        let (bad, good): (Vec<&String>, Vec<&String>) = regids.iter().partition(|r| v.dead_tokens.contains(*r));
        if good.is_empty() {
            return (200, vec![], error(20301, "No valid targets!"));
        }
        let bad: Vec<&str> = bad.iter().map(|s| s.as_str()).collect();
        let response = HttpResponse::Ok().json(json!({
            "result": "ok", "code": 0, "description": "成功",
            "info": format!("Received push messages for {} REGID", good.len()),
            "trace_id": uuid::Uuid::new_v4().simple().to_string(),
            "data": {"id": format!("sdm{}", uuid::Uuid::new_v4().simple()), "bad_regids": bad.join(",")},
        }));
        (200, good.into_iter().cloned().collect(), response)
    });
    state.with(VENDOR, |v| v.record(now, status, regids, accepted, body));
    response
}

fn field<'a>(form: &'a HashMap<String, String>, key: &str) -> Result<&'a str, (i64, String)> {
    form.get(key)
        .map(String::as_str)
        .ok_or((10016, format!("missing required parameter {key}")))
}

/// MiPush's rules for a notification to regids: (code, reason).
fn validate(
    form: &HashMap<String, String>,
    package: &str,
    n_regids: usize,
) -> Result<(), (i64, String)> {
    let bad = |reason: String| Err((10017, reason));
    if n_regids == 0 {
        return Err((10016, "missing required parameter registration_id".into()));
    }
    if n_regids > MAX_REGIDS {
        return bad(format!("{n_regids} regids, at most {MAX_REGIDS}"));
    }
    if field(form, "restricted_package_name")? != package {
        return Err((22022, "invalid package name".into()));
    }
    let title = field(form, "title")?;
    let description = field(form, "description")?;
    if title.trim().is_empty() || title.chars().count() >= 50 {
        return bad("title must be non-blank and fewer than 50 characters".into());
    }
    if description.chars().count() >= 128 {
        return bad("description must be fewer than 128 characters".into());
    }
    if !matches!(
        form.get("pass_through").map(String::as_str),
        None | Some("0" | "1")
    ) {
        return bad("pass_through must be 0 or 1".into());
    }
    if form
        .get("notify_id")
        .is_some_and(|i| i.parse::<i32>().is_err())
    {
        return bad("notify_id must be an integer".into());
    }
    if let Some(ttl) = form.get("time_to_live") {
        if ttl.parse::<u64>().map_or(true, |t| t > MAX_TTL_MS) {
            return bad("time_to_live must be milliseconds, at most 10 days".into());
        }
    }
    if !matches!(
        form.get("extra.notify_effect").map(String::as_str),
        Some("1" | "2" | "3")
    ) {
        return bad("extra.notify_effect must be 1, 2 or 3 (custom notifications are off)".into());
    }
    if form.get("extra.channel_id").is_none_or(|c| c.is_empty()) {
        return bad("extra.channel_id is required by the message classification".into());
    }
    let extras: Vec<(&String, &String)> = form
        .iter()
        .filter(|(k, _)| {
            k.starts_with("extra.")
                && !["extra.channel_id", "extra.notify_effect"].contains(&k.as_str())
        })
        .collect();
    if extras.len() > 10 {
        return Err((65014, "more than 10 extra key-value pairs".into()));
    }
    if extras
        .iter()
        .any(|(k, v)| k.len() > 1024 || v.chars().count() > 1024)
    {
        return Err((
            65015,
            "an extra key or value is longer than 1024 characters".into(),
        ));
    }
    Ok(())
}
