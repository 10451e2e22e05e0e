//! Default values of the settings (docs/configuration.md lists them).
use std::net::SocketAddr;
pub fn log() -> String {
    "info,lapin=warn,actix_server=warn".into()
}
pub fn one() -> u32 {
    1
}
pub fn prefetch() -> u16 {
    1000
}
pub fn batch_max() -> usize {
    500
}
pub fn linger_ms() -> u64 {
    5
}
pub fn in_flight() -> usize {
    4
}
/// Ingest paces its batches by default: a batch costs every stage and the broker about the same
/// whatever it holds, so fewer, fuller batches leave a loaded machine's tail shorter.
pub fn batch_interval_ms() -> u64 {
    20
}
fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
pub fn ingest_addr() -> SocketAddr {
    addr(9101)
}
pub fn presence_addr() -> SocketAddr {
    addr(9102)
}
pub fn registry_addr() -> SocketAddr {
    addr(9103)
}
pub fn dedup_window_s() -> u64 {
    24 * 3600
}
pub fn max_recipients() -> usize {
    10_000
}
pub fn max_push_bytes() -> usize {
    3584
}
pub fn default_ttl_s() -> u64 {
    24 * 3600
}
pub fn max_ttl_s() -> u64 {
    28 * 24 * 3600
}
pub fn max_session_ttl_s() -> u64 {
    3600
}
pub fn cache_bytes() -> u64 {
    16 * 1024 * 1024
}
pub fn concurrency() -> usize {
    64
}
pub fn dispatch_prefetch() -> u16 {
    64
}
pub fn max_attempts() -> u32 {
    8
}
pub fn backoff_base_ms() -> u64 {
    1000
}
pub fn backoff_max_ms() -> u64 {
    300_000
}
pub fn retry_tiers_s() -> Vec<u64> {
    vec![1, 2, 5, 10, 30, 60, 120, 300, 900]
}
pub fn request_timeout_ms() -> u64 {
    10_000
}
pub fn dead_token_min() -> u32 {
    50
}
pub fn dead_token_ratio() -> f64 {
    0.5
}
pub fn dead_token_window_s() -> u64 {
    300
}
pub fn breaker_failures() -> u32 {
    5
}
pub fn breaker_cooldown_ms() -> u64 {
    5_000
}
pub fn breaker_max_cooldown_ms() -> u64 {
    60_000
}
pub fn quota_day_s() -> u64 {
    86_400
}
pub fn replica() -> String {
    "0".into()
}
