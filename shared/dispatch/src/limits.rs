//! Per (app, vendor) limits the vendor actor applies to every attempt: a request rate and a
//! device rate (GCRA, by governor), and a daily quota. Settings sit beside the vendor's own in
//! `[apps.<app>.<vendor>]`: `requests_per_s`, `devices_per_s`, `daily_quota`.

use crate::sent::SentStore;
use governor::{DefaultDirectRateLimiter, Quota as Rate, RateLimiter};
use pushmesh_contract::Vendor;
use serde::Deserialize;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// The limit keys every vendor table accepts.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LimitSettings {
    pub requests_per_s: Option<u32>,
    pub devices_per_s: Option<u32>,
    pub daily_quota: Option<u64>,
}

pub const LIMIT_KEYS: [&str; 3] = ["requests_per_s", "devices_per_s", "daily_quota"];

/// Requests per second a vendor documents (or third parties report) for an ordinary app: the
/// default when an app sets none. APNs publishes no rate.
pub fn default_requests_per_s(vendor: Vendor) -> Option<u32> {
    match vendor {
        // 600,000 messages a minute per project, one message per request.
        Vendor::Fcm => Some(10_000),
        Vendor::Apns => None,
        Vendor::Huawei => Some(6_000),
        Vendor::Xiaomi => Some(500),
        Vendor::Oppo => Some(5_000),
        Vendor::Vivo | Vendor::Honor => Some(3_000),
    }
}

/// When a vendor's day turns, as an offset from UTC: the Chinese vendors count quotas per
/// Beijing day.
pub fn day_offset_ms(vendor: Vendor) -> u64 {
    match vendor {
        Vendor::Fcm | Vendor::Apns => 0,
        _ => 8 * 3_600_000,
    }
}

pub struct RateLimits {
    requests: Option<DefaultDirectRateLimiter>,
    devices: Option<DefaultDirectRateLimiter>,
}

impl RateLimits {
    /// Requests are spaced evenly (a burst of one), 5% wider than the rate: rate + 1 requests
    /// then span 1.05 s, so no one-second window at the vendor sees more than the rate unless
    /// the network bunches requests by more than 50 ms (at 2% a loaded CI machine saw 21 in a
    /// second at 20/s); devices may burst up to one full request.
    pub fn new(requests_per_s: Option<u32>, devices_per_s: Option<u32>, max_devices: u32) -> Self {
        let requests = requests_per_s.filter(|r| *r > 0).and_then(|r| {
            let period = Duration::from_secs_f64(1.05 / f64::from(r));
            Rate::with_period(period).map(|q| RateLimiter::direct(q.allow_burst(NonZeroU32::MIN)))
        });
        let devices = devices_per_s.and_then(NonZeroU32::new).map(|r| {
            let burst = NonZeroU32::new(max_devices.max(r.get())).unwrap_or(r);
            RateLimiter::direct(Rate::per_second(r).allow_burst(burst))
        });
        RateLimits { requests, devices }
    }

    /// Waits until one request of `devices` devices may go out.
    pub async fn acquire(&self, devices: usize) {
        if let Some(l) = &self.requests {
            l.until_ready().await;
        }
        if let (Some(l), Some(n)) = (&self.devices, NonZeroU32::new(devices as u32)) {
            // More devices than the burst can never fit: let it through rather than stall.
            let _ = l.until_n_ready(n).await;
        }
    }
}

/// A daily quota, counted in the dispatcher's store so a restart does not reset it.
pub struct DailyQuota {
    pub limit: u64,
    /// Length of a quota day; 86,400 s (tests shorten it to simulate the reset).
    pub day_ms: u64,
    pub offset_ms: u64,
    pub key: String,
    pub store: Arc<dyn SentStore>,
}

impl DailyQuota {
    /// The day `now_ms` falls in, and how long until the next one.
    pub fn day(&self, now_ms: u64) -> (u64, Duration) {
        let local = now_ms + self.offset_ms;
        let day = local / self.day_ms;
        (day, Duration::from_millis((day + 1) * self.day_ms - local))
    }

    /// Takes up to `n` from today's quota: how many may go now, and how long the rest must
    /// wait (until the next day).
    pub fn take(&self, n: u64, now_ms: u64) -> (u64, Duration) {
        let (day, until_next) = self.day(now_ms);
        let key = format!("{}/{day}", self.key);
        match self.store.take_up_to(&key, n, self.limit) {
            Ok(granted) => (granted, until_next),
            // A store failure must not stop pushes for a day: let them go uncounted.
            Err(e) => {
                tracing::error!(error = %e, "quota store failed; sending without counting");
                (n, until_next)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sent::DiskSent;

    #[test]
    fn quota_counts_per_day_and_resets() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn SentStore> =
            Arc::new(DiskSent::open(dir.path(), "dispatch-fcm").unwrap());
        let q = DailyQuota {
            limit: 3,
            day_ms: 1_000,
            offset_ms: 0,
            key: "demo/xiaomi".into(),
            store,
        };
        assert_eq!(q.take(2, 10_000), (2, Duration::from_millis(1_000)));
        assert_eq!(
            q.take(2, 10_100),
            (1, Duration::from_millis(900)),
            "one left today"
        );
        assert_eq!(
            q.take(1, 10_200),
            (0, Duration::from_millis(800)),
            "full until the next day"
        );
        assert_eq!(q.take(5, 11_000).0, 3, "a new day, three of five");
    }

    #[test]
    fn china_days_turn_at_beijing_midnight() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn SentStore> =
            Arc::new(DiskSent::open(dir.path(), "dispatch-fcm").unwrap());
        let q = DailyQuota {
            limit: 1,
            day_ms: 86_400_000,
            offset_ms: day_offset_ms(Vendor::Vivo),
            key: "k".into(),
            store,
        };
        // 2026-01-01T15:59:59Z is 23:59:59 in Beijing.
        assert_eq!(q.day(1_767_283_199_000).1, Duration::from_secs(1));
    }

    #[tokio::test]
    async fn requests_are_spaced_by_the_rate() {
        let limits = RateLimits::new(Some(20), None, 1);
        let started = std::time::Instant::now();
        for _ in 0..5 {
            limits.acquire(1).await;
        }
        // The first goes at once, the next four 50 ms apart.
        assert!(
            started.elapsed() >= Duration::from_millis(190),
            "{:?}",
            started.elapsed()
        );
    }
}
