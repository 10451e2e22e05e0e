//! The APNs client of one app: HTTP/2 only, over long-lived pooled connections (reqwest keeps
//! them open and multiplexes requests as streams), one provider token for all of them.

use crate::auth::Auth;
use crate::request;
use crate::response::classify;
use crate::settings::ApnsSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::Vendor;
use pushmesh_dispatch::support::causes;
use pushmesh_dispatch::{Answer, Attempt, AuthError, Built, Credential, VendorApi, VendorEnv};
use pushmesh_runtime::SettingsError;

pub struct ApnsClient {
    settings: ApnsSettings,
    base: String,
    auth: Auth,
    http: reqwest::Client,
}

impl VendorApi for ApnsClient {
    const VENDOR: Vendor = Vendor::Apns;
    /// A wrong one makes APNs call every token dead.
    const TOKEN_SETTINGS: &'static str = "topic (and team_id, key_id)";
    /// The provider token is signed by the key for the team; the topic is not in it.
    const CREDENTIAL_KEYS: &'static [&'static str] = &["team_id", "key_id", "key_file"];
    const HTTP2_ONLY: bool = true;
    type Settings = ApnsSettings;

    fn new(settings: ApnsSettings, env: &VendorEnv) -> Result<Self, SettingsError> {
        settings.validate()?;
        let key = settings.load_key(env.config_dir)?;
        let auth = Auth::new(settings.team_id.clone(), settings.key_id.clone(), key);
        Ok(ApnsClient {
            base: settings.base_url(),
            settings,
            auth,
            http: env.http.clone(),
        })
    }

    async fn authorize(&self) -> Result<Credential, AuthError> {
        self.auth.sign()
    }

    /// APNs takes one device per request, and the core never groups more than one.
    async fn send(&self, credential: &str, pushes: &[DevicePush]) -> Answer {
        let builder = match self.request(credential, &pushes[0]) {
            Ok(b) => b,
            Err(refused) => return Answer::Done(vec![refused]),
        };
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
            Err(e) => Answer::Done(vec![Attempt::retry(format!(
                "APNs unreachable: {}",
                causes(&e)
            ))]),
        }
    }

    fn requests(&self, credential: &str, pushes: &[DevicePush]) -> Result<Vec<Built>, Attempt> {
        Ok(vec![self.request(credential, &pushes[0])?.build()])
    }
}

impl ApnsClient {
    fn request(
        &self,
        credential: &str,
        push: &DevicePush,
    ) -> Result<reqwest::RequestBuilder, Attempt> {
        let req =
            request::build(push, &self.settings).map_err(|detail| Attempt::Rejected { detail })?;
        let mut builder = self
            .http
            .post(format!("{}{}", self.base, req.path))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("bearer {credential}"),
            )
            .body(req.body);
        for (k, v) in &req.headers {
            builder = builder.header(*k, v);
        }
        Ok(builder)
    }
}
