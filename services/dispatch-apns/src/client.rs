//! The APNs client of one app: HTTP/2 only, over long-lived pooled connections (reqwest keeps
//! them open and multiplexes requests as streams), one provider token for all of them.

use crate::auth::Auth;
use crate::request;
use crate::response::classify;
use crate::settings::ApnsSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::Vendor;
use pushmesh_dispatch::auth::{send_authorized, Answer};
use pushmesh_dispatch::{Attempt, VendorApi};

pub struct ApnsClient {
    settings: ApnsSettings,
    base: String,
    auth: Auth,
    http: reqwest::Client,
}

impl ApnsClient {
    pub fn new(settings: ApnsSettings, auth: Auth, http: reqwest::Client) -> Self {
        ApnsClient {
            base: settings.base_url(),
            settings,
            auth,
            http,
        }
    }

    async fn send_one(&self, push: &DevicePush) -> Attempt {
        let req = match request::build(push, &self.settings) {
            Ok(r) => r,
            Err(detail) => return Attempt::Rejected { detail },
        };
        let url = format!("{}{}", self.base, req.path);
        let mut attempts = send_authorized("APNs", &self.auth, 1, |token| {
            let mut builder = self
                .http
                .post(&url)
                .header(reqwest::header::AUTHORIZATION, format!("bearer {token}"))
                .body(req.body.clone());
            for (k, v) in &req.headers {
                builder = builder.header(*k, v);
            }
            async move {
                match builder.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let id = resp
                            .headers()
                            .get("apns-id")
                            .and_then(|v| v.to_str().ok())
                            .map(String::from);
                        let bytes = resp.bytes().await.unwrap_or_default();
                        classify(status, id, &bytes)
                    }
                    Err(e) => Answer::Done(vec![Attempt::retry(format!("APNs unreachable: {e}"))]),
                }
            }
        })
        .await;
        attempts
            .pop()
            .unwrap_or_else(|| Attempt::retry("no answer"))
    }
}

impl VendorApi for ApnsClient {
    fn vendor(&self) -> Vendor {
        Vendor::Apns
    }

    async fn send(&self, pushes: &[DevicePush]) -> Vec<Attempt> {
        let mut out = Vec::with_capacity(pushes.len());
        for push in pushes {
            out.push(self.send_one(push).await);
        }
        out
    }
}
