//! `POST /vivo/message/auth`: `{appId, appKey, timestamp, sign}`.

use super::{reply, VivoSim, VENDOR};
use crate::state::SimState;
use actix_web::{web, HttpResponse};
use md5::{Digest, Md5};
use pushmesh_contract::now_ms;
use serde_json::{json, Value};

/// An authToken is valid for a day.
const TOKEN_TTL_S: u64 = 86_400;

pub async fn auth(
    state: web::Data<SimState>,
    sim: web::Data<VivoSim>,
    body: web::Json<Value>,
) -> HttpResponse {
    let now = now_ms();
    let Some(app_id) = body["appId"].as_u64() else {
        return reply(10200, "appId is empty", json!({}));
    };
    let Some((key, secret)) = sim.accounts.get(&app_id) else {
        return reply(10205, "appId does not exist", json!({}));
    };
    if body["appKey"].as_str() != Some(key.as_str()) {
        return reply(10202, "appKey is illegal", json!({}));
    }
    let Some(timestamp) = body["timestamp"]
        .as_u64()
        .filter(|t| t.abs_diff(now) <= 600_000)
    else {
        return reply(10207, "timestamp is illegal", json!({}));
    };
    let digest = Md5::digest(format!("{app_id}{key}{timestamp}{secret}").trim());
    let expected: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if body["sign"].as_str() != Some(expected.as_str()) {
        return reply(10206, "sign error", json!({}));
    }
    let token = state.with(VENDOR, |v| {
        v.issue_token(&app_id.to_string(), TOKEN_TTL_S, now)
    });
    reply(0, "请求成功", json!({"authToken": token}))
}
