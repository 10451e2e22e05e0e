//! The OPPO client of one app: `unicast` for one device, `unicast_batch` for more.

use crate::auth::Auth;
use crate::request;
use crate::response::classify;
use crate::settings::OppoSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::{now_ms, Vendor};
use pushmesh_dispatch::support::read_answer;
use pushmesh_dispatch::{Answer, Attempt, AuthError, Built, Credential, VendorApi, VendorEnv};
use pushmesh_runtime::SettingsError;
use serde_json::Value;

pub struct OppoClient {
    settings: OppoSettings,
    base: String,
    auth: Auth,
    http: reqwest::Client,
}

impl VendorApi for OppoClient {
    const VENDOR: Vendor = Vendor::Oppo;
    /// OPPO has no message that reaches a closed app: a ringing notification leaves the tray
    /// when its call would have timed out (`show_ttl`).
    const WITHDRAWS: bool = false;
    type Settings = OppoSettings;

    fn new(settings: OppoSettings, env: &VendorEnv) -> Result<Self, SettingsError> {
        settings.validate()?;
        let base = settings.base_url.trim_end_matches('/');
        Ok(OppoClient {
            base: format!("{base}/server/v1/message/notification"),
            auth: Auth::new(&settings),
            settings,
            http: env.http.clone(),
        })
    }

    fn max_devices_per_request(&self) -> usize {
        self.settings.max_tokens_per_request
    }

    async fn authorize(&self) -> Result<Credential, AuthError> {
        self.auth.fetch(&self.http).await
    }

    async fn send(&self, credential: &str, pushes: &[DevicePush]) -> Answer {
        let all = |a: Attempt| Answer::Done(vec![a; pushes.len()]);
        let batch = pushes.len() > 1;
        let sent = match self.request(credential, pushes) {
            Ok(builder) => builder.send().await,
            Err(refused) => return all(refused),
        };
        match read_answer("OPPO", sent).await {
            Ok((status, body)) => classify(status, &body, pushes, batch),
            Err(retry) => all(retry),
        }
    }

    fn requests(&self, credential: &str, pushes: &[DevicePush]) -> Result<Vec<Built>, Attempt> {
        Ok(vec![self.request(credential, pushes)?.build()])
    }
}

impl OppoClient {
    /// One device: `unicast`; several: `unicast_batch`, each with its own message.
    fn request(
        &self,
        credential: &str,
        pushes: &[DevicePush],
    ) -> Result<reqwest::RequestBuilder, Attempt> {
        let notification = request::notification(&pushes[0], &self.settings, now_ms())
            .map_err(|detail| Attempt::Rejected { detail })?;
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
        let form = [("auth_token", credential.to_owned()), (field, payload)];
        Ok(self
            .http
            .post(&url)
            .header("auth_token", credential)
            .form(&form))
    }
}
