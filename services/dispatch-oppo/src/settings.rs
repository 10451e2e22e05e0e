//! OPPO Push settings of one app: `[apps.<app_id>.oppo]`.

use pushmesh_runtime::SettingsError;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OppoSettings {
    pub app_key: String,
    /// The MasterSecret (not the AppSecret): it signs the auth request.
    pub master_secret: String,
    /// `channel_id`: required for Android 8+; the channel registered for IM messages.
    pub channel_id: String,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// `category`: IM by default (communication, not subject to the marketing quota).
    #[serde(default = "default_category")]
    pub category: String,
    /// `notify_level`: 1 tray only, 2 tray and lock screen, 16 banner.
    #[serde(default = "default_notify_level")]
    pub notify_level: u32,
    /// `style`: 1 standard (content ≤ 50 characters), 2 long text (content ≤ 128).
    #[serde(default = "default_style")]
    pub style: u32,
    #[serde(default = "default_max_tokens")]
    pub max_tokens_per_request: usize,
    #[serde(default)]
    pub resources: BTreeMap<String, OppoResource>,
    /// What a call's invitation is sent as (a `resources_id` on the invite overrides it).
    #[serde(default)]
    pub call: OppoCall,
}

/// `[apps.<app>.oppo.call]`: OPPO has no call category; calls go as IM. `notify_level` 16
/// (a banner) needs OPPO's approval, so the default is 2 (tray and lock screen).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OppoCall {
    pub category: String,
    pub notify_level: u32,
    pub channel_id: Option<String>,
}

impl Default for OppoCall {
    fn default() -> Self {
        OppoCall {
            category: "IM".into(),
            notify_level: 2,
            channel_id: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OppoResource {
    pub channel_id: Option<String>,
    pub category: Option<String>,
    pub notify_level: Option<u32>,
}

fn default_base_url() -> String {
    "https://api.push.oppomobile.com".into()
}
fn default_category() -> String {
    "IM".into()
}
fn default_notify_level() -> u32 {
    2
}
fn default_style() -> u32 {
    2
}
fn default_max_tokens() -> usize {
    1000
}

impl OppoSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (key, value) in [
            ("app_key", &self.app_key),
            ("master_secret", &self.master_secret),
            ("channel_id", &self.channel_id),
        ] {
            if value.is_empty() {
                return Err(SettingsError::invalid(key, "must not be empty"));
            }
        }
        if ![1, 2].contains(&self.style) {
            return Err(SettingsError::invalid(
                "style",
                "must be 1 (standard) or 2 (long text)",
            ));
        }
        if ![1, 2, 16].contains(&self.call.notify_level) {
            return Err(SettingsError::invalid(
                "call.notify_level",
                "must be 1, 2 or 16",
            ));
        }
        if ![1, 2, 16].contains(&self.notify_level) {
            return Err(SettingsError::invalid("notify_level", "must be 1, 2 or 16"));
        }
        if !(1..=1000).contains(&self.max_tokens_per_request) {
            return Err(SettingsError::invalid(
                "max_tokens_per_request",
                "must be 1 to 1000",
            ));
        }
        Ok(())
    }

    /// Content limit of the configured style.
    pub fn max_content(&self) -> usize {
        if self.style == 2 {
            128
        } else {
            50
        }
    }
}
