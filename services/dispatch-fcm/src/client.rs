//! The FCM client of one app: auth, request, response table, wired into [`VendorApi`].

use crate::auth::Auth;
use crate::request;
use crate::response::{classify, Classified};
use crate::settings::FcmSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::{now_ms, Vendor};
use pushmesh_dispatch::auth::{send_authorized, Answer};
use pushmesh_dispatch::retry::parse_retry_after;
use pushmesh_dispatch::{Attempt, VendorApi};
use pushmesh_runtime::SettingsError;
use std::time::Duration;

pub struct FcmClient {
    settings: FcmSettings,
    /// Parsed once, not from a string for each request: FCM takes one token per request
    /// (docs/benchmarks.md, change 16).
    send_url: reqwest::Url,
    auth: Auth,
    http: reqwest::Client,
}

impl FcmClient {
    /// Fails, naming `base_url`, when it and the project id do not make a URL.
    pub fn new(
        app_id: &str,
        settings: FcmSettings,
        auth: Auth,
        http: reqwest::Client,
    ) -> Result<Self, SettingsError> {
        let send_url = format!(
            "{}/v1/projects/{}/messages:send",
            settings.base_url.trim_end_matches('/'),
            settings.project_id
        );
        let send_url = reqwest::Url::parse(&send_url).map_err(|e| {
            SettingsError::invalid(
                format!("apps.{app_id}.fcm.base_url"),
                format!("`{send_url}` is not a URL ({e})"),
            )
        })?;
        Ok(FcmClient {
            settings,
            send_url,
            auth,
            http,
        })
    }

    async fn send_one(&self, push: &DevicePush) -> Attempt {
        let body = request::body(push, &self.settings, now_ms());
        let quota_wait = Duration::from_secs(self.settings.quota_min_wait_s);
        let mut attempts = send_authorized("FCM", &self.auth, 1, |token| {
            let request = self
                .http
                .post(self.send_url.clone())
                .bearer_auth(token)
                .json(&body);
            async move {
                let resp = match request.send().await {
                    Ok(r) => r,
                    Err(e) => {
                        return Answer::Done(vec![Attempt::retry(format!("FCM unreachable: {e}"))])
                    }
                };
                let status = resp.status().as_u16();
                let retry_after = parse_retry_after(
                    resp.headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok()),
                );
                let bytes = resp.bytes().await.unwrap_or_default();
                match classify(status, retry_after, &bytes, quota_wait) {
                    Classified::Done(attempt) => Answer::Done(vec![attempt]),
                    Classified::AuthExpired => Answer::AuthExpired,
                }
            }
        })
        .await;
        attempts
            .pop()
            .unwrap_or_else(|| Attempt::retry("no answer"))
    }
}

impl VendorApi for FcmClient {
    fn vendor(&self) -> Vendor {
        Vendor::Fcm
    }

    async fn send(&self, pushes: &[DevicePush]) -> Vec<Attempt> {
        // FCM v1 takes one token per request; the core never groups more than one.
        let mut out = Vec::with_capacity(pushes.len());
        for push in pushes {
            out.push(self.send_one(push).await);
        }
        out
    }
}
