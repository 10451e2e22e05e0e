//! The Honor client of one app: auth, request, response table, wired into [`VendorApi`].

use crate::auth::Auth;
use crate::request;
use crate::response::classify;
use crate::settings::HonorSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::{now_ms, Vendor};
use pushmesh_dispatch::auth::{send_authorized, Answer};
use pushmesh_dispatch::{Attempt, VendorApi};

pub struct HonorClient {
    settings: HonorSettings,
    send_url: String,
    auth: Auth,
    http: reqwest::Client,
}

impl HonorClient {
    pub fn new(settings: HonorSettings, http: reqwest::Client) -> Self {
        let send_url = format!(
            "{}/api/v1/{}/sendMessage",
            settings.base_url.trim_end_matches('/'),
            settings.app_id
        );
        HonorClient {
            auth: crate::auth::auth(&settings, http.clone()),
            settings,
            send_url,
            http,
        }
    }
}

impl VendorApi for HonorClient {
    fn vendor(&self) -> Vendor {
        Vendor::Honor
    }

    fn max_devices_per_request(&self) -> usize {
        self.settings.max_tokens_per_request
    }

    async fn send(&self, pushes: &[DevicePush]) -> Vec<Attempt> {
        let body = match request::body(pushes, &self.settings, now_ms()) {
            Ok(b) => b,
            Err(detail) => return vec![Attempt::Rejected { detail }; pushes.len()],
        };
        send_authorized("Honor", &self.auth, pushes.len(), |token| {
            let request = self
                .http
                .post(&self.send_url)
                .bearer_auth(token)
                .header("timestamp", now_ms().to_string())
                .json(&body);
            async move {
                match request.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let bytes = resp.bytes().await.unwrap_or_default();
                        classify(status, &bytes, pushes)
                    }
                    Err(e) => Answer::Done(vec![
                        Attempt::retry(format!("Honor unreachable: {e}"));
                        pushes.len()
                    ]),
                }
            }
        })
        .await
    }
}
