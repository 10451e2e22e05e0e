//! The Xiaomi client of one app. MiPush has no token exchange: every request carries the
//! AppSecret as `Authorization: key=<AppSecret>`, the credential that never expires.

use crate::request;
use crate::response::classify;
use crate::settings::XiaomiSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::{now_ms, Vendor};
use pushmesh_dispatch::support::read_answer;
use pushmesh_dispatch::{Answer, Attempt, AuthError, Built, Credential, VendorApi, VendorEnv};
use pushmesh_runtime::SettingsError;

pub struct XiaomiClient {
    settings: XiaomiSettings,
    send_url: String,
    http: reqwest::Client,
}

impl VendorApi for XiaomiClient {
    const VENDOR: Vendor = Vendor::Xiaomi;
    /// A wrong one makes Xiaomi call every token dead.
    const TOKEN_SETTINGS: &'static str = "package and app_secret";
    type Settings = XiaomiSettings;

    fn new(settings: XiaomiSettings, env: &VendorEnv) -> Result<Self, SettingsError> {
        settings.validate()?;
        let base = settings.base_url.trim_end_matches('/');
        Ok(XiaomiClient {
            send_url: format!("{base}/v3/message/regid"),
            settings,
            http: env.http.clone(),
        })
    }

    fn max_devices_per_request(&self) -> usize {
        self.settings.max_tokens_per_request
    }

    async fn authorize(&self) -> Result<Credential, AuthError> {
        Ok(Credential::fixed(format!(
            "key={}",
            self.settings.app_secret
        )))
    }

    async fn send(&self, credential: &str, pushes: &[DevicePush]) -> Answer {
        let sent = match self.request(credential, pushes) {
            Ok(builder) => builder.send().await,
            Err(refused) => return Answer::Done(vec![refused; pushes.len()]),
        };
        Answer::Done(match read_answer("Xiaomi", sent).await {
            Ok((status, body)) => classify(status, &body, pushes),
            Err(retry) => vec![retry; pushes.len()],
        })
    }

    fn requests(&self, credential: &str, pushes: &[DevicePush]) -> Result<Vec<Built>, Attempt> {
        Ok(vec![self.request(credential, pushes)?.build()])
    }
}

impl XiaomiClient {
    fn request(
        &self,
        credential: &str,
        pushes: &[DevicePush],
    ) -> Result<reqwest::RequestBuilder, Attempt> {
        let form = request::form(pushes, &self.settings, now_ms())
            .map_err(|detail| Attempt::Rejected { detail })?;
        Ok(self
            .http
            .post(&self.send_url)
            .header(reqwest::header::AUTHORIZATION, credential)
            .form(&form))
    }
}
