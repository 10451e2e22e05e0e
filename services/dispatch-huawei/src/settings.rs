//! Huawei Push Kit settings of one app: `[apps.<app_id>.huawei]`.

use pushmesh_runtime::SettingsError;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HuaweiSettings {
    /// The app id from AppGallery Connect; also the OAuth client id.
    pub app_id: String,
    /// The app secret (OAuth client secret).
    pub client_secret: String,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(default = "default_auth_url")]
    pub auth_url: String,
    /// `android.urgency`: HIGH or NORMAL.
    #[serde(default = "default_urgency")]
    pub urgency: String,
    /// `android.category` (self-classification), e.g. IM, VOIP, SUBSCRIPTION. IM by default:
    /// communication messages are not subject to the marketing quota.
    #[serde(default = "default_category")]
    pub category: String,
    /// Tokens per request; Huawei allows 1000.
    #[serde(default = "default_max_tokens")]
    pub max_tokens_per_request: usize,
    #[serde(default)]
    pub resources: BTreeMap<String, HuaweiResource>,
    /// What a call's invitation is sent as (a `resources_id` on the invite overrides it).
    #[serde(default)]
    pub call: HuaweiCall,
}

/// `[apps.<app>.huawei.call]`: Huawei's class for incoming calls (category VOIP needs the
/// self-classification right in AppGallery Connect).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HuaweiCall {
    pub category: String,
    pub urgency: String,
    pub importance: String,
    pub channel_id: Option<String>,
}

impl Default for HuaweiCall {
    fn default() -> Self {
        HuaweiCall {
            category: "VOIP".into(),
            urgency: "HIGH".into(),
            importance: "NORMAL".into(),
            channel_id: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HuaweiResource {
    pub channel_id: Option<String>,
    pub category: Option<String>,
    pub importance: Option<String>,
    pub sound: Option<String>,
}

fn default_base_url() -> String {
    "https://push-api.cloud.huawei.com".into()
}
fn default_auth_url() -> String {
    "https://oauth-login.cloud.huawei.com/oauth2/v3/token".into()
}
fn default_urgency() -> String {
    "HIGH".into()
}
fn default_category() -> String {
    "IM".into()
}
fn default_max_tokens() -> usize {
    1000
}

impl HuaweiSettings {
    /// Errors name the key below `apps.<app>.huawei`.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.app_id.is_empty() {
            return Err(SettingsError::invalid("app_id", "must not be empty"));
        }
        if self.client_secret.is_empty() {
            return Err(SettingsError::invalid("client_secret", "must not be empty"));
        }
        if !["HIGH", "NORMAL"].contains(&self.urgency.as_str()) {
            return Err(SettingsError::invalid("urgency", "must be HIGH or NORMAL"));
        }
        if !["HIGH", "NORMAL"].contains(&self.call.urgency.as_str()) {
            return Err(SettingsError::invalid(
                "call.urgency",
                "must be HIGH or NORMAL",
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
