//! vendor-sim's settings: the `[vendor_sim]` table of the mesh's TOML file, which no production
//! service reads. The vendors' credentials it checks are the apps' own (`[apps.<app>.<vendor>]`).

use pushmesh_runtime::{Settings, SettingsError};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSettings {
    /// Every vendor's HTTP/1.1 API, under `/<vendor>`, and the `/sim` controls.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The APNs stand-in: HTTP/2 only, as APNs is (cleartext with prior knowledge, or over TLS
    /// with ALPN `h2`).
    #[serde(default = "default_apns_listen")]
    pub apns_listen: SocketAddr,
    /// PEM public key of the service account whose JWT assertions the FCM token endpoint accepts.
    #[serde(default)]
    pub fcm_public_key_file: Option<PathBuf>,
    /// PEM public key of the .p8 key whose provider tokens the APNs stand-in accepts.
    #[serde(default)]
    pub apns_public_key_file: Option<PathBuf>,
    /// PEM certificate chain and key: with both, every vendor API is served over TLS.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Lifetime of the access tokens it issues.
    #[serde(default = "default_access_token_ttl_s")]
    pub access_token_ttl_s: u64,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9200))
}
fn default_apns_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9201))
}
fn default_access_token_ttl_s() -> u64 {
    3600
}

impl SimSettings {
    /// The `[vendor_sim]` table of `settings`; relative key paths are resolved against
    /// `config_dir`. Errors name the key (`vendor_sim.listen`).
    pub fn from_settings(settings: &Settings, config_dir: &Path) -> Result<Self, SettingsError> {
        let table = match &settings.vendor_sim {
            serde_json::Value::Null => serde_json::json!({}),
            other => other.clone(),
        };
        let mut sim: SimSettings = serde_json::from_value(table)
            .map_err(|e| SettingsError::invalid("vendor_sim", e.to_string()))?;
        let paths = [
            &mut sim.fcm_public_key_file,
            &mut sim.apns_public_key_file,
            &mut sim.tls_cert_file,
            &mut sim.tls_key_file,
        ];
        for path in paths.into_iter().flatten() {
            *path = config_dir.join(&*path);
        }
        Ok(sim)
    }
}
