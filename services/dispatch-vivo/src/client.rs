//! The vivo client of one app.

use crate::auth::Auth;
use crate::request;
use crate::response::{classify, task_id};
use crate::settings::VivoSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::{now_ms, Vendor};
use pushmesh_dispatch::auth::{send_authorized, Answer};
use pushmesh_dispatch::{Attempt, VendorApi};
use serde_json::{json, Value};

pub struct VivoClient {
    settings: VivoSettings,
    base: String,
    auth: Auth,
    http: reqwest::Client,
}

impl VivoClient {
    pub fn new(settings: VivoSettings, http: reqwest::Client) -> Self {
        VivoClient {
            base: format!("{}/message", settings.base_url.trim_end_matches('/')),
            auth: Auth::new(&settings, http.clone()),
            settings,
            http,
        }
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> Result<(u16, Vec<u8>), String> {
        let resp = self
            .http
            .post(format!("{}/{path}", self.base))
            .header("authToken", token)
            .json(body)
            .send()
            .await
            .map_err(|e| format!("vivo unreachable: {e}"))?;
        let status = resp.status().as_u16();
        Ok((status, resp.bytes().await.unwrap_or_default().to_vec()))
    }

    /// One device: `/message/send`. Several: `saveListPayload`, then `pushToList`.
    async fn send_with(&self, token: String, pushes: &[DevicePush], message: &Value) -> Answer {
        let n = pushes.len();
        let unreachable = |e: String| Answer::Done(vec![Attempt::retry(e); n]);
        if n == 1 {
            let mut body = message.clone();
            body["regId"] = json!(pushes[0].token);
            return match self.post("send", &token, &body).await {
                Ok((status, bytes)) => classify(status, &bytes, pushes),
                Err(e) => unreachable(e),
            };
        }
        let task = match self.post("saveListPayload", &token, message).await {
            Ok((status, bytes)) => match task_id(status, &bytes, n) {
                Ok(task) => task,
                Err(answer) => return answer,
            },
            Err(e) => return unreachable(e),
        };
        let regs: Vec<&str> = pushes.iter().map(|p| p.token.as_str()).collect();
        let body = json!({"regIds": regs, "taskId": task, "requestId": message["requestId"]});
        match self.post("pushToList", &token, &body).await {
            Ok((status, bytes)) => classify(status, &bytes, pushes),
            Err(e) => unreachable(e),
        }
    }
}

impl VendorApi for VivoClient {
    fn vendor(&self) -> Vendor {
        Vendor::Vivo
    }

    fn max_devices_per_request(&self) -> usize {
        self.settings.max_tokens_per_request
    }

    async fn send(&self, pushes: &[DevicePush]) -> Vec<Attempt> {
        if let Some(wait) = request::outside_operational_hours(&pushes[0], &self.settings, now_ms())
        {
            let detail = "vivo takes operational messages 07:00-23:00 Beijing time".to_owned();
            return vec![Attempt::Defer { wait, detail }; pushes.len()];
        }
        let message = match request::message(pushes, &self.settings, now_ms()) {
            Ok(m) => m,
            Err(detail) => return vec![Attempt::Rejected { detail }; pushes.len()],
        };
        send_authorized("vivo", &self.auth, pushes.len(), |token| {
            self.send_with(token, pushes, &message)
        })
        .await
    }
}
