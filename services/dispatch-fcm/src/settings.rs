//! FCM settings of one app: `[apps.<app_id>.fcm]` in the pushmesh TOML file.

use pushmesh_runtime::SettingsError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_BASE_URL: &str = "https://fcm.googleapis.com";
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmSettings {
    /// The Firebase project id (`projects/{project_id}/messages:send`).
    pub project_id: String,
    /// The service-account JSON file downloaded from the Firebase console.
    pub service_account_file: PathBuf,
    /// FCM's API base URL; point it at vendor-sim for tests and staging.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Where the OAuth token request is sent; the service account's `token_uri` by default.
    /// The JWT's `aud` is always the service account's `token_uri`, as Google requires.
    #[serde(default)]
    pub token_url: Option<String>,
    /// `android.priority`: `HIGH` wakes the device from Doze (IM default) or `NORMAL`.
    #[serde(default = "default_priority")]
    pub priority: String,
    /// Least wait after QUOTA_EXCEEDED, in seconds; FCM asks for 60. (A larger Retry-After wins.)
    #[serde(default = "default_quota_wait_s")]
    pub quota_min_wait_s: u64,
    /// Per `resources_id`: Android channel, sound and collapse key.
    #[serde(default)]
    pub resources: BTreeMap<String, FcmResource>,
    /// What a call's invitation is sent as (a `resources_id` on the invite overrides it).
    #[serde(default)]
    pub call: FcmCall,
}

/// `[apps.<app>.fcm.call]`: a call rings at priority HIGH (wakes the device from Doze), on the
/// app's Android channel for calls if it names one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FcmCall {
    pub priority: String,
    pub channel_id: Option<String>,
}

impl Default for FcmCall {
    fn default() -> Self {
        FcmCall {
            priority: "HIGH".into(),
            channel_id: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmResource {
    pub channel_id: Option<String>,
    pub sound: Option<String>,
    pub priority: Option<String>,
    pub collapse_key: Option<String>,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.into()
}

fn default_quota_wait_s() -> u64 {
    60
}

fn default_priority() -> String {
    "HIGH".into()
}

/// The fields of Google's service-account file that the OAuth flow uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

fn default_token_uri() -> String {
    GOOGLE_TOKEN_URI.into()
}

impl FcmSettings {
    /// Errors name the key within the table, e.g. `priority`.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = SettingsError::invalid;
        if self.project_id.is_empty() {
            return Err(invalid("project_id", "must not be empty"));
        }
        let priorities = ["HIGH", "NORMAL"];
        if !priorities.contains(&self.priority.as_str()) {
            return Err(invalid("priority", "must be HIGH or NORMAL"));
        }
        if !priorities.contains(&self.call.priority.as_str()) {
            return Err(invalid("call.priority", "must be HIGH or NORMAL"));
        }
        for r in self.resources.values() {
            if r.priority
                .as_deref()
                .is_some_and(|p| !priorities.contains(&p))
            {
                return Err(invalid("resources.*.priority", "must be HIGH or NORMAL"));
            }
        }
        Ok(())
    }

    pub fn load_service_account(&self, base: &Path) -> Result<ServiceAccount, SettingsError> {
        let path = base.join(&self.service_account_file);
        let err = |reason: String| {
            SettingsError::invalid(
                "service_account_file",
                format!("{}: {reason}", path.display()),
            )
        };
        let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
        let account: ServiceAccount =
            serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|e| err(format!("private_key is not an RSA PEM key: {e}")))?;
        Ok(account)
    }
}
