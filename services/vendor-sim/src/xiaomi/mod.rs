//! Xiaomi MiPush: `POST /v3/message/regid` with `Authorization: key=<AppSecret>`, a form body,
//! and MiPush's codes. Accounts are the apps configured with `[apps.<id>.xiaomi]`.

mod send;

use actix_web::web;
use pushmesh_runtime::Settings;
use serde::Deserialize;
use std::collections::HashMap;

pub const VENDOR: &str = "xiaomi";

pub struct XiaomiSim {
    /// AppSecret -> the package it may push to.
    pub accounts: HashMap<String, String>,
}

#[derive(Deserialize)]
struct Account {
    app_secret: String,
    package: String,
}

impl XiaomiSim {
    pub fn from_settings(settings: &Settings) -> Self {
        let accounts = settings
            .apps
            .values()
            .filter_map(|vendors| vendors.get(VENDOR))
            .filter_map(|v| serde_json::from_value::<Account>(v.clone()).ok())
            .map(|a| (a.app_secret, a.package))
            .collect();
        XiaomiSim { accounts }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v3/message/regid", web::post().to(send::send));
}
