//! APNs settings of one app: `[apps.<app_id>.apns]`.

use pushmesh_runtime::SettingsError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const PRODUCTION: &str = "https://api.push.apple.com";
pub const SANDBOX: &str = "https://api.sandbox.push.apple.com";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsSettings {
    /// The 10-character Team ID (`iss` of the provider token).
    pub team_id: String,
    /// The 10-character Key ID of the .p8 key (`kid`).
    pub key_id: String,
    /// The .p8 auth key file from the developer account.
    pub key_file: PathBuf,
    /// `apns-topic`: the app's bundle id.
    pub topic: String,
    /// `production` or `sandbox` (development builds get sandbox tokens).
    #[serde(default = "default_environment")]
    pub environment: String,
    /// Overrides the environment's host (vendor-sim, staging).
    #[serde(default)]
    pub base_url: Option<String>,
    /// `aps.sound`; none for silent delivery.
    #[serde(default = "default_sound")]
    pub sound: Option<String>,
    #[serde(default)]
    pub resources: BTreeMap<String, ApnsResource>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsResource {
    pub sound: Option<String>,
    /// `aps.category`: the notification's actions on the device.
    pub category: Option<String>,
    /// `aps.thread-id`: groups notifications (e.g. per conversation kind).
    pub thread_id: Option<String>,
    /// `apns-collapse-id` (at most 64 bytes).
    pub collapse_id: Option<String>,
    /// `aps.badge`.
    pub badge: Option<u32>,
}

fn default_environment() -> String {
    "production".into()
}
fn default_sound() -> Option<String> {
    Some("default".into())
}

impl ApnsSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = SettingsError::invalid;
        if self.team_id.len() != 10 {
            return Err(invalid("team_id", "must be the 10-character Team ID"));
        }
        if self.key_id.len() != 10 {
            return Err(invalid("key_id", "must be the 10-character Key ID"));
        }
        if self.topic.is_empty() {
            return Err(invalid("topic", "must be the app's bundle id"));
        }
        if !["production", "sandbox"].contains(&self.environment.as_str()) {
            return Err(invalid("environment", "must be production or sandbox"));
        }
        if self
            .resources
            .values()
            .any(|r| r.collapse_id.as_ref().is_some_and(|c| c.len() > 64))
        {
            return Err(invalid(
                "resources.*.collapse_id",
                "must be at most 64 bytes",
            ));
        }
        Ok(())
    }

    pub fn base_url(&self) -> String {
        match &self.base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if self.environment == "sandbox" => SANDBOX.into(),
            None => PRODUCTION.into(),
        }
    }

    /// The .p8 key as an ES256 signing key.
    pub fn load_key(&self, base: &Path) -> Result<jsonwebtoken::EncodingKey, SettingsError> {
        let path = base.join(&self.key_file);
        let err = |reason: String| {
            SettingsError::invalid("key_file", format!("{}: {reason}", path.display()))
        };
        let pem = std::fs::read(&path).map_err(|e| err(e.to_string()))?;
        jsonwebtoken::EncodingKey::from_ec_pem(&pem)
            .map_err(|e| err(format!("not a P-256 .p8 key: {e}")))
    }
}
