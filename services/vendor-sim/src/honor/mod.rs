//! Honor Push: the OAuth client-credentials endpoint and `api/v1/{appId}/sendMessage`. Honor's
//! public facts conflict; this follows the `sendMessage` API (docs/vendors/honor.md says why).
//! Accounts are the apps configured with `[apps.<id>.honor]`.

mod send;

use crate::state::SimState;
use crate::SimSettings;
use actix_web::{web, HttpResponse};
use pushmesh_contract::now_ms;
use pushmesh_runtime::Settings;
use serde::Deserialize;
use std::collections::HashMap;

pub const VENDOR: &str = "honor";

pub struct HonorSim {
    /// client_id -> (client_secret, app_id)
    pub accounts: HashMap<String, (String, String)>,
    pub access_token_ttl_s: u64,
}

#[derive(Deserialize)]
struct Account {
    app_id: String,
    client_id: String,
    client_secret: String,
}

impl HonorSim {
    pub fn from_settings(settings: &Settings, sim: &SimSettings) -> Self {
        let accounts = settings
            .apps
            .values()
            .filter_map(|vendors| vendors.get(VENDOR))
            .filter_map(|v| serde_json::from_value::<Account>(v.clone()).ok())
            .map(|a| (a.client_id, (a.client_secret, a.app_id)))
            .collect();
        HonorSim {
            accounts,
            access_token_ttl_s: sim.access_token_ttl_s,
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/token", web::post().to(token))
        .route("/api/v1/{app_id}/sendMessage", web::post().to(send::send));
}

#[derive(Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /honor/auth/token`: client credentials; the token belongs to the account's app id.
async fn token(
    state: web::Data<SimState>,
    sim: web::Data<HonorSim>,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    if form.grant_type.as_deref() != Some("client_credentials") {
        return HttpResponse::BadRequest()
            .json(serde_json::json!({"error": "unsupported_grant_type"}));
    }
    let account = form.client_id.as_ref().and_then(|id| sim.accounts.get(id));
    let Some((secret, app_id)) = account else {
        return HttpResponse::Unauthorized().json(serde_json::json!({"error": "invalid_client"}));
    };
    if form.client_secret.as_ref() != Some(secret) {
        return HttpResponse::Unauthorized().json(serde_json::json!({"error": "invalid_client"}));
    }
    let ttl = sim.access_token_ttl_s;
    let token = state.with(VENDOR, |v| v.issue_token(app_id, ttl, now_ms()));
    HttpResponse::Ok()
        .json(serde_json::json!({"access_token": token, "expires_in": ttl, "token_type": "Bearer"}))
}
