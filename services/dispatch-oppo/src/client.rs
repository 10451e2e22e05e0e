//! The OPPO client of one app: `unicast` for one device, `unicast_batch` for more.

use crate::auth::Auth;
use crate::request;
use crate::response::classify;
use crate::settings::OppoSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::{now_ms, Vendor};
use pushmesh_dispatch::auth::{send_authorized, Answer};
use pushmesh_dispatch::{Attempt, VendorApi};
use serde_json::Value;

pub struct OppoClient {
    settings: OppoSettings,
    base: String,
    auth: Auth,
    http: reqwest::Client,
}

impl OppoClient {
    pub fn new(settings: OppoSettings, http: reqwest::Client) -> Self {
        OppoClient {
            base: format!(
                "{}/server/v1/message/notification",
                settings.base_url.trim_end_matches('/')
            ),
            auth: Auth::new(&settings, http.clone()),
            settings,
            http,
        }
    }
}

impl VendorApi for OppoClient {
    fn vendor(&self) -> Vendor {
        Vendor::Oppo
    }

    fn max_devices_per_request(&self) -> usize {
        self.settings.max_tokens_per_request
    }

    async fn send(&self, pushes: &[DevicePush]) -> Vec<Attempt> {
        let notification = match request::notification(&pushes[0], &self.settings, now_ms()) {
            Ok(n) => n,
            Err(detail) => return vec![Attempt::Rejected { detail }; pushes.len()],
        };
        let batch = pushes.len() > 1;
        let (url, field, payload) = if batch {
            let messages: Vec<Value> = pushes
                .iter()
                .map(|p| request::message(p, &notification))
                .collect();
            (
                format!("{}/unicast_batch", self.base),
                "messages",
                Value::Array(messages).to_string(),
            )
        } else {
            (
                format!("{}/unicast", self.base),
                "message",
                request::message(&pushes[0], &notification).to_string(),
            )
        };
        send_authorized("OPPO", &self.auth, pushes.len(), |token| {
            let form = [("auth_token", token.clone()), (field, payload.clone())];
            let request = self.http.post(&url).header("auth_token", token).form(&form);
            async move {
                match request.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let bytes = resp.bytes().await.unwrap_or_default();
                        classify(status, &bytes, pushes, batch)
                    }
                    Err(e) => Answer::Done(vec![
                        Attempt::retry(format!("OPPO unreachable: {e}"));
                        pushes.len()
                    ]),
                }
            }
        })
        .await
    }
}
