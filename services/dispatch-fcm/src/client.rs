//! The FCM client of one app: auth, request, response table, wired into [`VendorApi`].

use crate::auth::Auth;
use crate::request;
use crate::response::classify;
use crate::settings::FcmSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::{now_ms, Vendor};
use pushmesh_dispatch::retry::parse_retry_after;
use pushmesh_dispatch::support::causes;
use pushmesh_dispatch::{Answer, Attempt, AuthError, Built, Credential, VendorApi, VendorEnv};
use pushmesh_runtime::SettingsError;
use std::time::Duration;

pub struct FcmClient {
    settings: FcmSettings,
    /// Parsed once, not for each request: FCM takes one token per request.
    send_url: reqwest::Url,
    auth: Auth,
    http: reqwest::Client,
}

impl VendorApi for FcmClient {
    const VENDOR: Vendor = Vendor::Fcm;
    /// A wrong one makes FCM call every token dead.
    const TOKEN_SETTINGS: &'static str = "project_id and service_account_file";
    type Settings = FcmSettings;

    /// Fails, naming the key, when the settings, the service account or the URL are wrong.
    fn new(settings: FcmSettings, env: &VendorEnv) -> Result<Self, SettingsError> {
        settings.validate()?;
        let account = settings.load_service_account(env.config_dir)?;
        let auth = Auth::new(account, settings.token_url.clone())
            .map_err(|e| SettingsError::invalid("service_account_file", e.to_string()))?;
        let send_url = format!(
            "{}/v1/projects/{}/messages:send",
            settings.base_url.trim_end_matches('/'),
            settings.project_id
        );
        let send_url = reqwest::Url::parse(&send_url).map_err(|e| {
            SettingsError::invalid("base_url", format!("`{send_url}` is not a URL ({e})"))
        })?;
        Ok(FcmClient {
            settings,
            send_url,
            auth,
            http: env.http.clone(),
        })
    }

    async fn authorize(&self) -> Result<Credential, AuthError> {
        self.auth.fetch(&self.http).await
    }

    /// FCM v1 takes one token per request, and the core never groups more than one.
    async fn send(&self, credential: &str, pushes: &[DevicePush]) -> Answer {
        let sent = self.request(credential, &pushes[0]).send().await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                return Answer::Done(vec![Attempt::retry(format!(
                    "FCM unreachable: {}",
                    causes(&e)
                ))])
            }
        };
        let status = resp.status().as_u16();
        let retry_after = parse_retry_after(
            resp.headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        let bytes = resp.bytes().await.unwrap_or_default();
        let quota_wait = Duration::from_secs(self.settings.quota_min_wait_s);
        classify(status, retry_after, &bytes, quota_wait)
    }

    fn requests(&self, credential: &str, pushes: &[DevicePush]) -> Result<Vec<Built>, Attempt> {
        Ok(vec![self.request(credential, &pushes[0]).build()])
    }
}

impl FcmClient {
    fn request(&self, credential: &str, push: &DevicePush) -> reqwest::RequestBuilder {
        let body = request::body(push, &self.settings, now_ms());
        self.http
            .post(self.send_url.clone())
            .bearer_auth(credential)
            .json(&body)
    }
}
