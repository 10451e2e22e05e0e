//! vivo Push: `/message/auth` (md5 signature), `/message/send`, `/message/saveListPayload` and
//! `/message/pushToList`, with vivo's result codes. Accounts are the apps configured with
//! `[apps.<id>.vivo]`. Codes that vivo's public documents do not confirm are marked [U] in
//! docs/vendors/vivo.md; the sim uses the same ones as the dispatcher.

mod auth;
mod send;

use actix_web::web;
use pushmesh_runtime::Settings;
use serde::Deserialize;
use std::collections::HashMap;

pub const VENDOR: &str = "vivo";

pub struct VivoSim {
    /// appId -> (appKey, appSecret)
    pub accounts: HashMap<u64, (String, String)>,
}

#[derive(Deserialize)]
struct Account {
    app_id: u64,
    app_key: String,
    app_secret: String,
}

impl VivoSim {
    pub fn from_settings(settings: &Settings) -> Self {
        let accounts = settings
            .apps
            .values()
            .filter_map(|vendors| vendors.get(VENDOR))
            .filter_map(|v| serde_json::from_value::<Account>(v.clone()).ok())
            .map(|a| (a.app_id, (a.app_key, a.app_secret)))
            .collect();
        VivoSim { accounts }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/message/auth", web::post().to(auth::auth))
        .route("/message/send", web::post().to(send::send))
        .route(
            "/message/saveListPayload",
            web::post().to(send::save_list_payload),
        )
        .route("/message/pushToList", web::post().to(send::push_to_list));
}

pub fn reply(result: i64, desc: &str, extra: serde_json::Value) -> actix_web::HttpResponse {
    let mut body = serde_json::json!({"result": result, "desc": desc});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    actix_web::HttpResponse::Ok().json(body)
}
