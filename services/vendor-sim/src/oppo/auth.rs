//! `POST /oppo/server/v1/auth`: form `app_key`, `timestamp` (ms), `sign`.

use super::{reply, OppoSim, VENDOR};
use crate::state::SimState;
use actix_web::{web, HttpResponse};
use pushmesh_contract::now_ms;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// An auth_token is valid for 24 hours.
const TOKEN_TTL_S: u64 = 86_400;

#[derive(Deserialize)]
pub struct Form {
    app_key: Option<String>,
    timestamp: Option<String>,
    sign: Option<String>,
}

pub async fn auth(
    state: web::Data<SimState>,
    sim: web::Data<OppoSim>,
    form: web::Form<Form>,
) -> HttpResponse {
    let now = now_ms();
    let Some(app_key) = form.app_key.as_deref().filter(|k| !k.is_empty()) else {
        return reply(15, "app_key is missing", json!(null));
    };
    let Some(secret) = sim.accounts.get(app_key) else {
        return reply(14, "invalid app_key", json!(null));
    };
    let Some(timestamp) = form.timestamp.as_deref() else {
        return reply(18, "timestamp is missing", json!(null));
    };
    match timestamp.parse::<u64>() {
        Ok(t) if t.abs_diff(now) <= 600_000 => {}
        _ => {
            return reply(
                19,
                "invalid timestamp: milliseconds within 10 minutes of now",
                json!(null),
            )
        }
    }
    let Some(sign) = form.sign.as_deref() else {
        return reply(17, "sign is missing", json!(null));
    };
    let digest = Sha256::digest(format!("{app_key}{timestamp}{secret}"));
    let expected: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if sign != expected {
        return reply(16, "invalid sign", json!(null));
    }
    let token = state.with(VENDOR, |v| v.issue_token(app_key, TOKEN_TTL_S, now));
    reply(
        0,
        "success",
        json!({"auth_token": token, "create_time": now}),
    )
}
