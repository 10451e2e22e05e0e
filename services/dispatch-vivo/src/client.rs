//! The vivo client of one app.

use crate::auth::Auth;
use crate::request;
use crate::response::{classify, task_id};
use crate::settings::VivoSettings;
use bytes::Bytes;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::{now_ms, Vendor};
use pushmesh_dispatch::support::read_answer;
use pushmesh_dispatch::{Answer, Attempt, AuthError, Built, Credential, VendorApi, VendorEnv};
use pushmesh_runtime::SettingsError;
use serde_json::{json, Value};

pub struct VivoClient {
    settings: VivoSettings,
    base: String,
    auth: Auth,
    http: reqwest::Client,
}

impl VivoClient {
    fn request(&self, path: &str, token: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/{path}", self.base))
            .header("authToken", token)
            .json(body)
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> Result<(u16, Bytes), Attempt> {
        let sent = self.request(path, token, body).send().await;
        read_answer("vivo", sent).await
    }

    /// The message for `pushes`, or why it does not go now.
    fn message(&self, pushes: &[DevicePush]) -> Result<Value, Attempt> {
        if let Some(wait) = request::outside_operational_hours(&pushes[0], &self.settings, now_ms())
        {
            let detail = "vivo takes operational messages 07:00-23:00 Beijing time".to_owned();
            return Err(Attempt::Defer { wait, detail });
        }
        request::message(pushes, &self.settings, now_ms())
            .map_err(|detail| Attempt::Rejected { detail })
    }

    /// One device: `/message/send`. Several: `saveListPayload`, then `pushToList`.
    async fn send_with(&self, token: &str, pushes: &[DevicePush], message: &Value) -> Answer {
        let n = pushes.len();
        let unreachable = |retry: Attempt| Answer::Done(vec![retry; n]);
        if n == 1 {
            return match self.post("send", token, &single(pushes, message)).await {
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
        let body = to_list(pushes, &task, message);
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
        match self.message(pushes) {
            Ok(message) => self.send_with(credential, pushes, &message).await,
            Err(refused) => Answer::Done(vec![refused; pushes.len()]),
        }
    }

    /// The list's second request names the task the first one's answer creates.
    fn requests(&self, credential: &str, pushes: &[DevicePush]) -> Result<Vec<Built>, Attempt> {
        let message = self.message(pushes)?;
        if pushes.len() == 1 {
            let body = single(pushes, &message);
            return Ok(vec![self.request("send", credential, &body).build()]);
        }
        let to_list = to_list(pushes, "<taskId of saveListPayload's answer>", &message);
        Ok(vec![
            self.request("saveListPayload", credential, &message)
                .build(),
            self.request("pushToList", credential, &to_list).build(),
        ])
    }
}

/// `/message/send`'s body: the message for one device.
fn single(pushes: &[DevicePush], message: &Value) -> Value {
    let mut body = message.clone();
    body["regId"] = json!(pushes[0].token);
    body
}

/// `pushToList`'s body: the devices and the task holding their message.
fn to_list(pushes: &[DevicePush], task: &str, message: &Value) -> Value {
    let regs: Vec<&str> = pushes.iter().map(|p| p.token.as_str()).collect();
    json!({"regIds": regs, "taskId": task, "requestId": message["requestId"]})
}
