//! `[api]`: who may call the registry's device API, and how often. The credentials themselves
//! live in files the settings name (a Kubernetes Secret mounts as such files), never inline.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Requests a second one caller may make (one server key, one user, or one address that
    /// gives no valid credential) ...
    #[serde(default = "rate_per_s")]
    pub rate_per_s: u32,
    /// ... in bursts of up to this many.
    #[serde(default = "burst")]
    pub burst: u32,
    /// Per app id: its server's API keys, and the key its user tokens are signed with.
    #[serde(default)]
    pub apps: BTreeMap<String, ApiApp>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            rate_per_s: rate_per_s(),
            burst: burst(),
            apps: BTreeMap::new(),
        }
    }
}

fn rate_per_s() -> u32 {
    20
}
fn burst() -> u32 {
    40
}

/// `[api.apps.<app_id>]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiApp {
    /// The app server's API keys, one a line: any of them may do everything in this app
    /// (several at once during a rotation).
    pub keys_file: Option<PathBuf>,
    /// The HS256 secret the app's server signs its users' tokens with ...
    pub token_secret_file: Option<PathBuf>,
    /// ... or the PEM public key of the ES256 key it signs them with.
    pub token_public_key_file: Option<PathBuf>,
}

impl ApiSettings {
    /// Every file path, to be resolved against the settings file's folder.
    pub(super) fn paths(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        self.apps.values_mut().flat_map(|a| {
            [
                a.keys_file.as_mut(),
                a.token_secret_file.as_mut(),
                a.token_public_key_file.as_mut(),
            ]
            .into_iter()
            .flatten()
        })
    }
}
