//! OPPO Push: `/server/v1/auth` (sha256 signature, ±10 min timestamp) and the `unicast` /
//! `unicast_batch` notification endpoints with OPPO's return codes. Accounts are the apps
//! configured with `[apps.<id>.oppo]`.

mod auth;
mod send;

use actix_web::web;
use pushmesh_runtime::Settings;
use serde::Deserialize;
use std::collections::HashMap;

pub const VENDOR: &str = "oppo";

pub struct OppoSim {
    /// app_key -> master_secret
    pub accounts: HashMap<String, String>,
}

#[derive(Deserialize)]
struct Account {
    app_key: String,
    master_secret: String,
}

impl OppoSim {
    pub fn from_settings(settings: &Settings) -> Self {
        let accounts = settings
            .apps
            .values()
            .filter_map(|vendors| vendors.get(VENDOR))
            .filter_map(|v| serde_json::from_value::<Account>(v.clone()).ok())
            .map(|a| (a.app_key, a.master_secret))
            .collect();
        OppoSim { accounts }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/server/v1/auth", web::post().to(auth::auth))
        .route(
            "/server/v1/message/notification/unicast",
            web::post().to(send::unicast),
        )
        .route(
            "/server/v1/message/notification/unicast_batch",
            web::post().to(send::unicast_batch),
        );
}

pub fn reply(code: i64, message: &str, data: serde_json::Value) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .json(serde_json::json!({"code": code, "message": message, "data": data}))
}
