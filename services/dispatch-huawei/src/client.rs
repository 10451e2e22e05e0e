//! The Huawei client of one app: OAuth 2.0 client credentials (the app id as client id and the
//! app secret), request, response table, wired into [`VendorApi`].

use crate::request;
use crate::response::classify;
use crate::settings::HuaweiSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::{now_ms, Vendor};
use pushmesh_dispatch::auth::client_credentials;
use pushmesh_dispatch::support::read_answer;
use pushmesh_dispatch::{Answer, Attempt, AuthError, Built, Credential, VendorApi, VendorEnv};
use pushmesh_runtime::SettingsError;

pub struct HuaweiClient {
    settings: HuaweiSettings,
    send_url: String,
    http: reqwest::Client,
}

impl VendorApi for HuaweiClient {
    const VENDOR: Vendor = Vendor::Huawei;
    /// A wrong one makes Huawei call every token dead.
    const TOKEN_SETTINGS: &'static str = "app_id";
    type Settings = HuaweiSettings;

    fn new(settings: HuaweiSettings, env: &VendorEnv) -> Result<Self, SettingsError> {
        settings.validate()?;
        let send_url = format!(
            "{}/v1/{}/messages:send",
            settings.base_url.trim_end_matches('/'),
            settings.app_id
        );
        Ok(HuaweiClient {
            settings,
            send_url,
            http: env.http.clone(),
        })
    }

    fn max_devices_per_request(&self) -> usize {
        self.settings.max_tokens_per_request
    }

    async fn authorize(&self) -> Result<Credential, AuthError> {
        let s = &self.settings;
        client_credentials(&self.http, &s.auth_url, &s.app_id, &s.client_secret).await
    }

    async fn send(&self, credential: &str, pushes: &[DevicePush]) -> Answer {
        let all = |a: Attempt| Answer::Done(vec![a; pushes.len()]);
        let sent = match self.request(credential, pushes) {
            Ok(builder) => builder.send().await,
            Err(refused) => return all(refused),
        };
        match read_answer("Huawei", sent).await {
            Ok((status, body)) => classify(status, &body, pushes),
            Err(retry) => all(retry),
        }
    }

    fn requests(&self, credential: &str, pushes: &[DevicePush]) -> Result<Vec<Built>, Attempt> {
        Ok(vec![self.request(credential, pushes)?.build()])
    }
}

impl HuaweiClient {
    fn request(
        &self,
        credential: &str,
        pushes: &[DevicePush],
    ) -> Result<reqwest::RequestBuilder, Attempt> {
        let body = request::body(pushes, &self.settings, now_ms())
            .map_err(|detail| Attempt::Rejected { detail })?;
        Ok(self
            .http
            .post(&self.send_url)
            .bearer_auth(credential)
            .json(&body))
    }
}
