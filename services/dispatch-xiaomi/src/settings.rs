//! Xiaomi MiPush settings of one app: `[apps.<app_id>.xiaomi]`.

use pushmesh_runtime::SettingsError;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XiaomiSettings {
    /// The AppSecret, sent as `Authorization: key=<AppSecret>`.
    pub app_secret: String,
    /// `restricted_package_name`: the app's Android package.
    pub package: String,
    /// `extra.channel_id`: the notification channel registered with Xiaomi's message
    /// classification (required since the 2023 scheme; use the private-message channel for IM).
    pub channel_id: String,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// `notify_type`: -1 all of sound, vibration and lights.
    #[serde(default = "default_notify_type")]
    pub notify_type: i32,
    #[serde(default = "default_max_tokens")]
    pub max_tokens_per_request: usize,
    #[serde(default)]
    pub resources: BTreeMap<String, XiaomiResource>,
    /// What a call's invitation is sent as (a `resources_id` on the invite overrides it).
    #[serde(default)]
    pub call: XiaomiCall,
}

/// `[apps.<app>.xiaomi.call]`: the channel registered for calls in Xiaomi's private-message
/// class (the app's `channel_id` when unset), with sound, vibration and lights.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct XiaomiCall {
    pub channel_id: Option<String>,
    pub notify_type: i32,
}

impl Default for XiaomiCall {
    fn default() -> Self {
        XiaomiCall {
            channel_id: None,
            notify_type: -1,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XiaomiResource {
    pub channel_id: Option<String>,
    pub notify_type: Option<i32>,
}

fn default_base_url() -> String {
    "https://api.xmpush.xiaomi.com".into()
}
fn default_notify_type() -> i32 {
    -1
}
fn default_max_tokens() -> usize {
    1000
}

impl XiaomiSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (key, value) in [
            ("app_secret", &self.app_secret),
            ("package", &self.package),
            ("channel_id", &self.channel_id),
        ] {
            if value.is_empty() {
                return Err(SettingsError::invalid(key, "must not be empty"));
            }
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
