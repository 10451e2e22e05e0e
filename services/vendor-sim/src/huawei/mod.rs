//! Huawei Push Kit: the OAuth client-credentials endpoint and `v1/{appId}/messages:send`, with
//! Push Kit's result codes. Accounts are the apps configured with `[apps.<id>.huawei]`.

mod auth;
mod send;

use crate::SimSettings;
use actix_web::web;
use pushmesh_runtime::Settings;
use serde::Deserialize;
use std::collections::HashMap;

pub const VENDOR: &str = "huawei";

pub struct HuaweiSim {
    /// Huawei app id (OAuth client id) -> client secret.
    pub accounts: HashMap<String, String>,
    pub access_token_ttl_s: u64,
}

#[derive(Deserialize)]
struct Account {
    app_id: String,
    client_secret: String,
}

impl HuaweiSim {
    pub fn from_settings(settings: &Settings, sim: &SimSettings) -> Self {
        let accounts = settings
            .apps
            .values()
            .filter_map(|vendors| vendors.get(VENDOR))
            .filter_map(|v| serde_json::from_value::<Account>(v.clone()).ok())
            .map(|a| (a.app_id, a.client_secret))
            .collect();
        HuaweiSim {
            accounts,
            access_token_ttl_s: sim.access_token_ttl_s,
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth2/v3/token", web::post().to(auth::token))
        .route("/v1/{app_id}/messages:send", web::post().to(send::send));
}

/// Push Kit's answer shape: `{"code": "...", "msg": "...", "requestId": "..."}`.
pub fn answer(http: u16, code: &str, msg: &str) -> actix_web::HttpResponse {
    let status =
        actix_web::http::StatusCode::from_u16(http).unwrap_or(actix_web::http::StatusCode::OK);
    actix_web::HttpResponse::build(status).json(serde_json::json!({
        "code": code,
        "msg": msg,
        "requestId": uuid::Uuid::new_v4().simple().to_string(),
    }))
}
