//! `[dispatch]`: how every vendor's dispatcher sends, retries and protects a failing vendor.

use super::defaults;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchSettings {
    /// Vendor requests in flight at once per dispatcher.
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// The dispatcher's prefetch, in place of `amqp.prefetch`: a dispatch message carries up
    /// to 1,000 pushes, so this bounds the pushes (and memory) a backlogged dispatcher holds.
    #[serde(default = "defaults::dispatch_prefetch")]
    pub prefetch: u16,
    /// Attempts before a retryable push is given up as `failed`.
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// Backoff: full jitter over base * 2^attempt, capped.
    #[serde(default = "defaults::backoff_base_ms")]
    pub backoff_base_ms: u64,
    #[serde(default = "defaults::backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Delay queues a retry waits in; a retry takes the shortest tier not shorter than its delay.
    #[serde(default = "defaults::retry_tiers_s")]
    pub retry_tiers_s: Vec<u64>,
    #[serde(default = "defaults::request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Transient failures in a row (5xx, timeouts) that open a vendor's circuit breaker.
    #[serde(default = "defaults::breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open breaker waits before one probe; doubles on each failed probe ...
    #[serde(default = "defaults::breaker_cooldown_ms")]
    pub breaker_cooldown_ms: u64,
    /// ... up to this.
    #[serde(default = "defaults::breaker_max_cooldown_ms")]
    pub breaker_max_cooldown_ms: u64,
    /// The dead-token guard: when at least `dead_token_min` of an (app, vendor)'s answers in
    /// `dead_token_window_s`, and at least `dead_token_ratio` of them, say "dead token", the
    /// configuration is suspect: no more of its devices are deleted (until a restart), their
    /// pushes are held as `failed` (parked, replayable).
    #[serde(default = "defaults::dead_token_min")]
    pub dead_token_min: u32,
    #[serde(default = "defaults::dead_token_ratio")]
    pub dead_token_ratio: f64,
    #[serde(default = "defaults::dead_token_window_s")]
    pub dead_token_window_s: u64,
    /// Length of a quota day (`daily_quota`); 86,400 s. Tests shorten it to see the reset.
    #[serde(default = "defaults::quota_day_s")]
    pub quota_day_s: u64,
    /// This replica's name among the replicas of one vendor's dispatcher: each has a queue of
    /// ended calls of its own (`dispatch.<vendor>.calls-ended.<replica>`). Stable across
    /// restarts (a StatefulSet pod's name).
    #[serde(default = "defaults::replica")]
    pub replica: String,
    /// PEM certificates of CAs the vendor endpoints' certificates may chain to, besides the
    /// public roots (a TLS-inspecting proxy's, or a test vendor's).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}
