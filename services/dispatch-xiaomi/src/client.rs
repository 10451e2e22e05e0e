//! The Xiaomi client of one app. MiPush has no token exchange: every request carries the
//! AppSecret as `Authorization: key=<AppSecret>`.

use crate::request;
use crate::response::classify;
use crate::settings::XiaomiSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::{now_ms, Vendor};
use pushmesh_dispatch::{Attempt, VendorApi};

pub struct XiaomiClient {
    settings: XiaomiSettings,
    send_url: String,
    authorization: String,
    http: reqwest::Client,
}

impl XiaomiClient {
    pub fn new(settings: XiaomiSettings, http: reqwest::Client) -> Self {
        XiaomiClient {
            send_url: format!(
                "{}/v3/message/regid",
                settings.base_url.trim_end_matches('/')
            ),
            authorization: format!("key={}", settings.app_secret),
            settings,
            http,
        }
    }
}

impl VendorApi for XiaomiClient {
    fn vendor(&self) -> Vendor {
        Vendor::Xiaomi
    }

    fn max_devices_per_request(&self) -> usize {
        self.settings.max_tokens_per_request
    }

    async fn send(&self, pushes: &[DevicePush]) -> Vec<Attempt> {
        let form = match request::form(pushes, &self.settings, now_ms()) {
            Ok(f) => f,
            Err(detail) => return vec![Attempt::Rejected { detail }; pushes.len()],
        };
        let sent = self
            .http
            .post(&self.send_url)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .form(&form)
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let bytes = resp.bytes().await.unwrap_or_default();
                classify(status, &bytes, pushes)
            }
            Err(e) => vec![Attempt::retry(format!("Xiaomi unreachable: {e}")); pushes.len()],
        }
    }
}
