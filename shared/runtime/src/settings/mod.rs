//! Typed settings, loaded once in `main` and passed down. No service reads the environment
//! anywhere else.
//!
//! One TOML file for the whole mesh (path in `PUSHMESH_CONFIG`); every key can be overridden by
//! an environment variable `PUSHMESH__<SECTION>__<KEY>` (e.g. `PUSHMESH__AMQP__URL`). A wrong or
//! missing setting stops the service at start with an error that names the key.
//! The reference is docs/configuration.md.

use pushmesh_contract::Vendor;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

pub const CONFIG_ENV: &str = "PUSHMESH_CONFIG";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{CONFIG_ENV} is not set: point it at the pushmesh TOML file")]
    NoConfigPath,
    #[error("cannot read settings: {0}")]
    Load(String),
    #[error("setting `{key}` is invalid: {reason}")]
    Invalid { key: String, reason: String },
}

impl SettingsError {
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        SettingsError::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// The same error about a key inside the table `prefix` (`apps.demo.fcm`).
    pub fn within(self, prefix: &str) -> Self {
        match self {
            SettingsError::Invalid { key, reason } => SettingsError::Invalid {
                key: format!("{prefix}.{key}"),
                reason,
            },
            other => other,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Log filter, e.g. `info` or `info,lapin=warn`.
    #[serde(default = "defaults::log")]
    pub log: String,
    /// `text`, or `json` (one object a line) for log shippers.
    #[serde(default)]
    pub log_format: LogFormat,
    pub amqp: AmqpSettings,
    #[serde(default)]
    pub batch: BatchSettings,
    /// Shards of presence and registry, by hash(app_id, user_id).
    #[serde(default = "defaults::one")]
    pub shards: u32,
    /// Where services keep their store files (one redb file per service and shard).
    pub data_dir: PathBuf,
    #[serde(default)]
    pub listen: ListenSettings,
    #[serde(default)]
    pub ingest: IngestSettings,
    #[serde(default)]
    pub presence: PresenceSettings,
    #[serde(default)]
    pub registry: RegistrySettings,
    #[serde(default)]
    pub dispatch: DispatchSettings,
    /// Who may call the device API.
    #[serde(default)]
    pub api: ApiSettings,
    /// What the stages record of each message.
    #[serde(default)]
    pub trace: TraceSettings,
    /// vendor-sim's own table, which only vendor-sim reads (its keys are in its crate).
    #[serde(default)]
    pub vendor_sim: serde_json::Value,
    /// Per app id, per vendor name: that vendor's settings for the app, read by its dispatcher.
    #[serde(default)]
    pub apps: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpSettings {
    /// `amqp://` or `amqps://` (TLS: the broker's certificate is verified).
    pub url: String,
    /// PEM certificates of the CA(s) that signed the broker's certificate, trusted besides the
    /// public roots (a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Unacknowledged deliveries a consumer may hold; bounds memory and in-flight work.
    #[serde(default = "defaults::prefetch")]
    pub prefetch: u16,
}

/// Internal hops carry batches: gather up to `max_items` or `linger_ms`, whichever comes first.
/// A stage with no batch in flight does not linger (see `BatchConsumer::next_batch`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSettings {
    #[serde(default = "defaults::batch_max")]
    pub max_items: usize,
    #[serde(default = "defaults::linger_ms")]
    pub linger_ms: u64,
    /// Batches a stage has published but not yet seen confirmed and acked; it takes the next
    /// batch meanwhile (see `run_stage`).
    #[serde(default = "defaults::in_flight")]
    pub in_flight: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSettings {
    #[serde(default = "defaults::ingest_addr")]
    pub ingest: SocketAddr,
    #[serde(default = "defaults::presence_addr")]
    pub presence: SocketAddr,
    #[serde(default = "defaults::registry_addr")]
    pub registry: SocketAddr,
    /// Per vendor name; a vendor not listed listens on 127.0.0.1:9110 + its index.
    #[serde(default)]
    pub dispatch: BTreeMap<String, SocketAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// A message_id seen again within this window is pushed once.
    #[serde(default = "defaults::dedup_window_s")]
    pub dedup_window_s: u64,
    #[serde(default = "defaults::max_recipients")]
    pub max_recipients: usize,
    /// Title, content and payload together, in bytes. Vendors cap a push at 4096 bytes; the
    /// default leaves 512 of them to the vendor's own envelope (token, ids, options).
    #[serde(default = "defaults::max_push_bytes")]
    pub max_push_bytes: usize,
    /// TTL of a push whose message gives none.
    #[serde(default = "defaults::default_ttl_s")]
    pub default_ttl_s: u64,
    #[serde(default = "defaults::max_ttl_s")]
    pub max_ttl_s: u64,
    /// The least time between two of ingest's batches while messages keep coming (0: none).
    /// Ingest's batches set the cadence of every stage after it, and a batch costs each stage
    /// and the broker about the same whatever it holds, so this trades a wait at ingest for
    /// CPU.
    #[serde(default = "defaults::batch_interval_ms")]
    pub batch_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceSettings {
    /// The shard this instance serves.
    #[serde(default)]
    pub shard: u32,
    /// Longest lease a `presence.online` may ask for.
    #[serde(default = "defaults::max_session_ttl_s")]
    pub max_session_ttl_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    #[serde(default)]
    pub shard: u32,
    /// The device store's page cache (redb).
    #[serde(default = "defaults::cache_bytes")]
    pub cache_bytes: u64,
    /// Where the console reads each dispatcher's `/state` (`http://host:port`); a vendor not
    /// listed: its `listen.dispatch` address (0.0.0.0 read as 127.0.0.1).
    #[serde(default)]
    pub dispatchers: BTreeMap<String, String>,
    /// Where the console reads a user's sessions (`http://host:port`); default: `listen.presence`.
    #[serde(default)]
    pub presence: Option<String>,
}

mod api;
mod defaults;
mod dispatch;
mod trace;

pub use api::{ApiApp, ApiSettings};
pub use dispatch::DispatchSettings;
pub use trace::TraceSettings;

macro_rules! default_from_serde {
    ($($t:ty),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                serde_json::from_value(serde_json::json!({})).expect("every field has a default")
            }
        }
    )*};
}
default_from_serde!(
    BatchSettings,
    ListenSettings,
    IngestSettings,
    PresenceSettings,
    RegistrySettings,
    DispatchSettings
);

impl Settings {
    /// Reads the file named by `PUSHMESH_CONFIG`, then `PUSHMESH__*` overrides. For `main`.
    pub fn load() -> Result<Self, SettingsError> {
        let path = std::env::var(CONFIG_ENV).map_err(|_| SettingsError::NoConfigPath)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| SettingsError::Load(format!("{CONFIG_ENV}={path}: {e}")))?;
        let mut settings = Self::build(&text, true)?;
        // Relative paths in the file are relative to the file, wherever the service starts.
        let dir = config_dir();
        settings.data_dir = dir.join(&settings.data_dir);
        let cas = [
            settings.amqp.ca_file.as_mut(),
            settings.dispatch.ca_file.as_mut(),
        ];
        for path in settings.api.paths().chain(cas.into_iter().flatten()) {
            *path = dir.join(&*path);
        }
        let cas = [
            ("amqp.ca_file", &settings.amqp.ca_file),
            ("dispatch.ca_file", &settings.dispatch.ca_file),
        ];
        for (key, path) in cas {
            if let Some(path) = path {
                crate::tls::read_ca(path).map_err(|why| SettingsError::invalid(key, why))?;
            }
        }
        Ok(settings)
    }

    /// Parses TOML text alone, without environment overrides (tests and tools).
    pub fn from_toml(text: &str) -> Result<Self, SettingsError> {
        Self::build(text, false)
    }

    fn build(text: &str, with_env: bool) -> Result<Self, SettingsError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml));
        if with_env {
            builder = builder.add_source(
                config::Environment::with_prefix("PUSHMESH")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("dispatch.retry_tiers_s"),
            );
        }
        let settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| SettingsError::Load(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        check_id(&self.dispatch.replica)
            .map_err(|reason| SettingsError::invalid("dispatch.replica", reason))?;
        if !self.amqp.url.starts_with("amqp://") && !self.amqp.url.starts_with("amqps://") {
            return Err(SettingsError::invalid(
                "amqp.url",
                "must start with amqp:// or amqps://",
            ));
        }
        if self.amqp.prefetch == 0 {
            return Err(SettingsError::invalid(
                "amqp.prefetch",
                "must be at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.trace.sample) {
            return Err(SettingsError::invalid(
                "trace.sample",
                "must be from 0 to 1",
            ));
        }
        if self.batch.in_flight == 0 {
            return Err(SettingsError::invalid(
                "batch.in_flight",
                "must be at least 1",
            ));
        }
        if self.batch.max_items == 0 {
            return Err(SettingsError::invalid(
                "batch.max_items",
                "must be at least 1",
            ));
        }
        if self.shards == 0 {
            return Err(SettingsError::invalid("shards", "must be at least 1"));
        }
        if self.presence.shard >= self.shards {
            return Err(SettingsError::invalid(
                "presence.shard",
                "must be below `shards`",
            ));
        }
        if self.registry.shard >= self.shards {
            return Err(SettingsError::invalid(
                "registry.shard",
                "must be below `shards`",
            ));
        }
        let tiers = &self.dispatch.retry_tiers_s;
        if tiers.is_empty() || tiers.contains(&0) || !tiers.is_sorted() {
            return Err(SettingsError::invalid(
                "dispatch.retry_tiers_s",
                "must be a non-empty ascending list of seconds above zero",
            ));
        }
        if self.dispatch.quota_day_s == 0 {
            return Err(SettingsError::invalid(
                "dispatch.quota_day_s",
                "must be at least 1",
            ));
        }
        if self.dispatch.concurrency == 0 {
            return Err(SettingsError::invalid(
                "dispatch.concurrency",
                "must be at least 1",
            ));
        }
        let listed = self.listen.dispatch.keys().map(|v| ("listen.dispatch", v));
        let urls = self
            .registry
            .dispatchers
            .keys()
            .map(|v| ("registry.dispatchers", v));
        for (table, vendor) in listed.chain(urls) {
            vendor
                .parse::<Vendor>()
                .map_err(|e| SettingsError::invalid(format!("{table}.{vendor}"), e.to_string()))?;
        }
        for (app, vendors) in &self.apps {
            crate::settings::check_id(app)
                .map_err(|r| SettingsError::invalid(format!("apps.{app}"), r))?;
            for vendor in vendors.keys() {
                vendor.parse::<Vendor>().map_err(|e| {
                    SettingsError::invalid(format!("apps.{app}.{vendor}"), e.to_string())
                })?;
            }
        }
        Ok(())
    }

    pub fn is_known_app(&self, app_id: &str) -> bool {
        self.apps.contains_key(app_id)
    }

    /// Where a dispatcher's HTTP endpoints (`/state`) are reached from the registry.
    pub fn dispatcher_url(&self, vendor: Vendor) -> String {
        let set = self.registry.dispatchers.get(vendor.as_str());
        reached(set, self.dispatch_listen(vendor))
    }

    /// Where presence's HTTP endpoints (a user's sessions) are reached from the registry.
    pub fn presence_url(&self) -> String {
        reached(self.registry.presence.as_ref(), self.listen.presence)
    }

    pub fn dispatch_listen(&self, vendor: Vendor) -> SocketAddr {
        self.listen
            .dispatch
            .get(vendor.as_str())
            .copied()
            .unwrap_or_else(|| {
                let index = Vendor::ALL.iter().position(|v| *v == vendor).unwrap_or(0) as u16;
                SocketAddr::from(([127, 0, 0, 1], 9110 + index))
            })
    }

    /// The apps that configure `vendor`, each with its settings parsed as `T`.
    /// Errors name the key, e.g. `apps.demo.fcm: missing field `project_id``.
    pub fn vendor_apps<T: serde::de::DeserializeOwned>(
        &self,
        vendor: Vendor,
    ) -> Result<BTreeMap<String, T>, SettingsError> {
        let mut out = BTreeMap::new();
        for (app, vendors) in &self.apps {
            if let Some(value) = vendors.get(vendor.as_str()) {
                let parsed = serde_json::from_value(value.clone()).map_err(|e| {
                    SettingsError::invalid(format!("apps.{app}.{vendor}"), e.to_string())
                })?;
                out.insert(app.clone(), parsed);
            }
        }
        Ok(out)
    }
}

/// The folder of the settings file: relative paths in it (credential files) are resolved here.
/// `set` without a trailing slash, or `http://{listen}` with 0.0.0.0 read as 127.0.0.1.
fn reached(set: Option<&String>, mut listen: SocketAddr) -> String {
    if let Some(url) = set {
        return url.trim_end_matches('/').to_owned();
    }
    if listen.ip().is_unspecified() {
        listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{listen}")
}

pub fn config_dir() -> PathBuf {
    std::env::var(CONFIG_ENV)
        .ok()
        .and_then(|p| PathBuf::from(p).parent().map(PathBuf::from))
        .unwrap_or_default()
}

/// The shape every id in the contract shares (app ids, user ids, message ids, push ids):
/// 1 to 128 bytes of printable ASCII without spaces, so it is safe in keys, logs and URLs.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.len() > 128 {
        return Err(format!(
            "is {} bytes long, at most 128 are allowed",
            id.len()
        ));
    }
    if let Some(c) = id.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "contains {c:?}: only printable ASCII without spaces is allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
