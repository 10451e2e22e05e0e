//! `POST /huawei/oauth2/v3/token`: `grant_type=client_credentials&client_id&client_secret`.

use super::{HuaweiSim, VENDOR};
use crate::state::SimState;
use actix_web::{web, HttpResponse};
use pushmesh_contract::now_ms;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Form {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub async fn token(
    state: web::Data<SimState>,
    sim: web::Data<HuaweiSim>,
    form: web::Form<Form>,
) -> HttpResponse {
    let refuse = |sub_error: u32, description: &str| {
        HttpResponse::BadRequest().json(serde_json::json!({
            "error": 1101, "sub_error": sub_error, "error_description": description,
        }))
    };
    if form.grant_type.as_deref() != Some("client_credentials") {
        return refuse(20001, "unsupported grant_type");
    }
    let (Some(id), Some(secret)) = (&form.client_id, &form.client_secret) else {
        return refuse(20003, "client_id and client_secret are required");
    };
    if sim.accounts.get(id) != Some(secret) {
        return refuse(20152, "invalid client");
    }
    let ttl = sim.access_token_ttl_s;
    let token = state.with(VENDOR, |v| v.issue_token(id, ttl, now_ms()));
    HttpResponse::Ok().json(serde_json::json!({
        "access_token": token, "expires_in": ttl, "token_type": "Bearer",
    }))
}
