//! `[trace]`: what the stages record of each message, and how long the registry keeps it.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSettings {
    /// The share of messages traced, 0 to 1, chosen by a hash of the app and message id, so
    /// every stage traces the same ones. Dry runs are always traced.
    #[serde(default = "sample")]
    pub sample: f64,
    /// Traced whatever the sample: every message of an app (`"demo"`), or every step about a
    /// user (`"demo/bob"`: from presence on; ingest's step is the message's, sampled).
    #[serde(default)]
    pub always: Vec<String>,
    /// How long the registry keeps a trace (it drops whole hours past this).
    #[serde(default = "window_s")]
    pub window_s: u64,
    /// The trace store's page cache.
    #[serde(default = "cache_bytes")]
    pub cache_bytes: u64,
}

fn sample() -> f64 {
    1.0
}
fn window_s() -> u64 {
    86_400
}
fn cache_bytes() -> u64 {
    64 << 20
}

impl Default for TraceSettings {
    fn default() -> Self {
        TraceSettings {
            sample: sample(),
            always: Vec::new(),
            window_s: window_s(),
            cache_bytes: cache_bytes(),
        }
    }
}
