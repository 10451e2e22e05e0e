//! Honor Push settings of one app: `[apps.<app_id>.honor]`.

use pushmesh_runtime::SettingsError;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HonorSettings {
    /// The app id from Honor's developer console (in the send path).
    pub app_id: String,
    /// OAuth client id and secret of the app.
    pub client_id: String,
    pub client_secret: String,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(default = "default_auth_url")]
    pub auth_url: String,
    /// `android.notification.importance`: NORMAL (IM) or LOW.
    #[serde(default = "default_importance")]
    pub importance: String,
    #[serde(default = "default_max_tokens")]
    pub max_tokens_per_request: usize,
    #[serde(default)]
    pub resources: BTreeMap<String, HonorResource>,
    /// What a call's invitation is sent as (a `resources_id` on the invite overrides it).
    #[serde(default)]
    pub call: HonorCall,
}

/// `[apps.<app>.honor.call]`: Honor's class for calls is importance NORMAL, which covers voice
/// and video call invitations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HonorCall {
    pub importance: String,
}

impl Default for HonorCall {
    fn default() -> Self {
        HonorCall {
            importance: "NORMAL".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HonorResource {
    pub importance: Option<String>,
}

fn default_base_url() -> String {
    "https://push-api.cloud.honor.com".into()
}
fn default_auth_url() -> String {
    "https://iam.developer.honor.com/auth/token".into()
}
fn default_importance() -> String {
    "NORMAL".into()
}
fn default_max_tokens() -> usize {
    1000
}

impl HonorSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (key, value) in [
            ("app_id", &self.app_id),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
        ] {
            if value.is_empty() {
                return Err(SettingsError::invalid(key, "must not be empty"));
            }
        }
        if !["NORMAL", "LOW"].contains(&self.importance.as_str()) {
            return Err(SettingsError::invalid(
                "importance",
                "must be NORMAL or LOW",
            ));
        }
        if !(1..=1000).contains(&self.max_tokens_per_request) {
            return Err(SettingsError::invalid(
                "max_tokens_per_request",
                "must be 1 to 1000",
            ));
        }
        Ok(())
    }
}
