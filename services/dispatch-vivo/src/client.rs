//! The vivo client of one app.

use crate::auth::Auth;
use crate::request;
use crate::response::{classify, task_id};
use crate::settings::VivoSettings;
use bytes::Bytes;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::{now_ms, Vendor};
use pushmesh_dispatch::support::read_answer;
use pushmesh_dispatch::{Answer, Attempt, AuthError, Credential, VendorApi, VendorEnv};
use pushmesh_runtime::SettingsError;
use serde_json::{json, Value};

pub struct VivoClient {
    settings: VivoSettings,
    base: String,
    auth: Auth,
    http: reqwest::Client,
}

impl VivoClient {
    async fn post(&self, path: &str, token: &str, body: &Value) -> Result<(u16, Bytes), Attempt> {
        let sent = self
            .http
            .post(format!("{}/{path}", self.base))
            .header("authToken", token)
            .json(body)
            .send()
            .await;
        read_answer("vivo", sent).await
    }

    /// One device: `/message/send`. Several: `saveListPayload`, then `pushToList`.
    async fn send_with(&self, token: &str, pushes: &[DevicePush], message: &Value) -> Answer {
        let n = pushes.len();
        let unreachable = |retry: Attempt| Answer::Done(vec![retry; n]);
        if n == 1 {
            let mut body = message.clone();
            body["regId"] = json!(pushes[0].token);
            return match self.post("send", token, &body).await {
                Ok((status, bytes)) => classify(status, &bytes, pushes),
                Err(e) => unreachable(e),
            };
        }
        let task = match self.post("saveListPayload", token, message).await {
            Ok((status, bytes)) => match task_id(status, &bytes, n) {
                Ok(task) => task,
                Err(answer) => return answer,
            },
            Err(e) => return unreachable(e),
        };
        let regs: Vec<&str> = pushes.iter().map(|p| p.token.as_str()).collect();
        let body = json!({"regIds": regs, "taskId": task, "requestId": message["requestId"]});
        match self.post("pushToList", token, &body).await {
            Ok((status, bytes)) => classify(status, &bytes, pushes),
            Err(e) => unreachable(e),
        }
    }
}

impl VendorApi for VivoClient {
    const VENDOR: Vendor = Vendor::Vivo;
    /// vivo has no message that reaches a closed app to stop it ringing.
    const WITHDRAWS: bool = false;
    type Settings = VivoSettings;

    fn new(settings: VivoSettings, env: &VendorEnv) -> Result<Self, SettingsError> {
        settings.validate()?;
        Ok(VivoClient {
            base: format!("{}/message", settings.base_url.trim_end_matches('/')),
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
        if let Some(wait) = request::outside_operational_hours(&pushes[0], &self.settings, now_ms())
        {
            let detail = "vivo takes operational messages 07:00-23:00 Beijing time".to_owned();
            return all(Attempt::Defer { wait, detail });
        }
        match request::message(pushes, &self.settings, now_ms()) {
            Ok(message) => self.send_with(credential, pushes, &message).await,
            Err(detail) => all(Attempt::Rejected { detail }),
        }
    }
}
