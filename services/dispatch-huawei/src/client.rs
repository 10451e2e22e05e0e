//! The Huawei client of one app: auth, request, response table, wired into [`VendorApi`].

use crate::auth::Auth;
use crate::request;
use crate::response::{classify, Classified};
use crate::settings::HuaweiSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::{now_ms, Vendor};
use pushmesh_dispatch::auth::{send_authorized, Answer};
use pushmesh_dispatch::{Attempt, VendorApi};

pub struct HuaweiClient {
    settings: HuaweiSettings,
    send_url: String,
    auth: Auth,
    http: reqwest::Client,
}

impl HuaweiClient {
    pub fn new(settings: HuaweiSettings, http: reqwest::Client) -> Self {
        let send_url = format!(
            "{}/v1/{}/messages:send",
            settings.base_url.trim_end_matches('/'),
            settings.app_id
        );
        HuaweiClient {
            auth: crate::auth::auth(&settings, http.clone()),
            settings,
            send_url,
            http,
        }
    }
}

impl VendorApi for HuaweiClient {
    fn vendor(&self) -> Vendor {
        Vendor::Huawei
    }

    fn max_devices_per_request(&self) -> usize {
        self.settings.max_tokens_per_request
    }

    async fn send(&self, pushes: &[DevicePush]) -> Vec<Attempt> {
        let all = |a: Attempt| vec![a; pushes.len()];
        let body = match request::body(pushes, &self.settings, now_ms()) {
            Ok(b) => b,
            Err(detail) => return all(Attempt::Rejected { detail }),
        };
        send_authorized("Huawei", &self.auth, pushes.len(), |token| {
            let request = self
                .http
                .post(&self.send_url)
                .bearer_auth(token)
                .json(&body);
            async move {
                let resp = match request.send().await {
                    Ok(r) => r,
                    Err(e) => {
                        return Answer::Done(all(Attempt::retry(format!(
                            "Huawei unreachable: {e}"
                        ))))
                    }
                };
                let status = resp.status().as_u16();
                let bytes = resp.bytes().await.unwrap_or_default();
                match classify(status, &bytes, pushes) {
                    Classified::Done(attempts) => Answer::Done(attempts),
                    Classified::AuthExpired => Answer::AuthExpired,
                }
            }
        })
        .await
    }
}
