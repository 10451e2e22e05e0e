//! vivo Push settings of one app: `[apps.<app_id>.vivo]`.

use pushmesh_runtime::SettingsError;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VivoSettings {
    /// vivo's numeric app id.
    pub app_id: u64,
    pub app_key: String,
    pub app_secret: String,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// `classification`: 1 system message (IM; no 07:00-23:00 window, larger quota), 0 operational.
    #[serde(default = "default_classification")]
    pub classification: u8,
    /// `category`, upper case; IM belongs to classification 1.
    #[serde(default = "default_category")]
    pub category: String,
    /// `notifyType`: 1 none, 2 sound, 3 vibration, 4 both.
    #[serde(default = "default_notify_type")]
    pub notify_type: u8,
    #[serde(default = "default_max_tokens")]
    pub max_tokens_per_request: usize,
    #[serde(default)]
    pub resources: BTreeMap<String, VivoResource>,
    /// What a call's invitation is sent as (a `resources_id` on the invite overrides it).
    #[serde(default)]
    pub call: VivoCall,
}

/// `[apps.<app>.vivo.call]`: vivo has no call category; calls go as system messages (no time
/// window) of category IM, with sound and vibration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VivoCall {
    pub classification: u8,
    pub category: String,
    pub notify_type: u8,
}

impl Default for VivoCall {
    fn default() -> Self {
        VivoCall {
            classification: 1,
            category: "IM".into(),
            notify_type: 4,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VivoResource {
    pub category: Option<String>,
    pub classification: Option<u8>,
    pub notify_type: Option<u8>,
}

fn default_base_url() -> String {
    "https://api-push.vivo.com.cn".into()
}
fn default_classification() -> u8 {
    1
}
fn default_category() -> String {
    "IM".into()
}
fn default_notify_type() -> u8 {
    4
}
fn default_max_tokens() -> usize {
    1000
}

impl VivoSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (key, value) in [("app_key", &self.app_key), ("app_secret", &self.app_secret)] {
            if value.is_empty() {
                return Err(SettingsError::invalid(key, "must not be empty"));
            }
        }
        if self.classification > 1 {
            return Err(SettingsError::invalid(
                "classification",
                "must be 0 (operational) or 1 (system)",
            ));
        }
        if !(1..=4).contains(&self.notify_type) {
            return Err(SettingsError::invalid("notify_type", "must be 1 to 4"));
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
