//! Per (app, vendor) limits its vendor actor applies to every attempt: a request rate and a
//! device rate (GCRA, by governor), and a daily quota. Settings sit beside the vendor's own in
//! `[apps.<app>.<vendor>]`: `requests_per_s`, `devices_per_s`, `daily_quota`.

use crate::sent::SentStore;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota as Rate, RateLimiter};
use pushmesh_contract::Vendor;
use serde::Deserialize;
use std::num::NonZeroU32;
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

/// The permits a waiting request already holds: a request passes both limiters, and one it
/// passed is not asked again while it waits for the other.
#[derive(Debug, Default, Clone, Copy)]
pub struct Held {
    request: bool,
    devices: bool,
}

impl RateLimits {
    /// Requests are spaced 5% wider than the rate, with a burst of a twenty-fifth of it (one at
    /// low rates): any one-second window then holds at most rate / 1.05 + rate / 25, under the
    /// rate, with room for the network bunching requests; and the actor's timer, which wakes
    /// at most once a millisecond, still reaches rates above 1,000 a second. Devices may burst
    /// up to one full request.
    pub fn new(requests_per_s: Option<u32>, devices_per_s: Option<u32>, max_devices: u32) -> Self {
        let requests = requests_per_s.filter(|r| *r > 0).and_then(|r| {
            let period = Duration::from_secs_f64(1.05 / f64::from(r));
            let burst = NonZeroU32::new(r / 25).unwrap_or(NonZeroU32::MIN);
            Rate::with_period(period).map(|q| RateLimiter::direct(q.allow_burst(burst)))
        });
        let devices = devices_per_s.and_then(NonZeroU32::new).map(|r| {
            let burst = NonZeroU32::new(max_devices.max(r.get())).unwrap_or(r);
            RateLimiter::direct(Rate::per_second(r).allow_burst(burst))
        });
        RateLimits { requests, devices }
    }

    /// Takes the permits one request of `devices` devices still lacks: Ok once it holds both,
    /// or how long until the one it lacks may be had.
    pub fn try_acquire(&self, devices: usize, held: &mut Held) -> Result<(), Duration> {
        if !held.request {
            if let Some(l) = &self.requests {
                l.check().map_err(|no| no.wait_time_from(l.clock().now()))?;
            }
            held.request = true;
        }
        if !held.devices {
            if let (Some(l), Some(n)) = (&self.devices, NonZeroU32::new(devices as u32)) {
                // More devices than the burst can never fit (`Err`): let it through rather than
                // stall.
                if let Ok(Err(no)) = l.check_n(n) {
                    return Err(no.wait_time_from(l.clock().now()));
                }
            }
            held.devices = true;
        }
        Ok(())
    }
}

/// A daily quota of one (app, vendor), owned by its vendor actor: the count of the day is kept
/// here and written through to the dispatcher's store, so a restart does not reset it.
pub struct DailyQuota {
    pub limit: u64,
    /// Length of a quota day; 86,400 s (tests shorten it to simulate the reset).
    pub day_ms: u64,
    pub offset_ms: u64,
    /// The store key's prefix (`quota/<app>`); the day number follows it.
    pub key: String,
    /// The day counted and how much of it is used (None until the first take reads the store).
    today: Option<(u64, u64)>,
}

impl DailyQuota {
    pub fn new(limit: u64, day_ms: u64, offset_ms: u64, key: String) -> Self {
        DailyQuota {
            limit,
            day_ms,
            offset_ms,
            key,
            today: None,
        }
    }

    /// The day `now_ms` falls in, and how long until the next one.
    pub fn day(&self, now_ms: u64) -> (u64, Duration) {
        let local = now_ms + self.offset_ms;
        let day = local / self.day_ms;
        (day, Duration::from_millis((day + 1) * self.day_ms - local))
    }

    /// Today's count as last taken (0 before the first take).
    pub fn used(&self) -> u64 {
        self.today.map_or(0, |(_, used)| used)
    }

    /// How much of today's quota is used.
    pub fn used_today(&mut self, now_ms: u64, store: &dyn SentStore) -> u64 {
        self.take(0, now_ms, store);
        self.today.map_or(0, |(_, used)| used)
    }

    /// Takes up to `n` from today's quota: how many may go now, and how long the rest must
    /// wait (until the next day).
    pub fn take(&mut self, n: u64, now_ms: u64, store: &dyn SentStore) -> (u64, Duration) {
        let (day, until_next) = self.day(now_ms);
        let key = format!("{}/{day}", self.key);
        let used = match self.today {
            Some((d, used)) if d == day => used,
            _ => match store.counter(&key) {
                Ok(used) => used,
                // A store failure must not stop pushes for a day: count from zero.
                Err(e) => {
                    tracing::error!(error = %e, "quota store unreadable; counting from zero");
                    0
                }
            },
        };
        let granted = n.min(self.limit.saturating_sub(used));
        self.today = Some((day, used + granted));
        if granted > 0 {
            if let Err(e) = store.set_counter(&key, used + granted) {
                tracing::error!(error = %e, "quota store failed; the count is kept in memory");
            }
        }
        (granted, until_next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sent::DiskSent;

    #[test]
    fn quota_counts_per_day_survives_a_restart_and_resets() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskSent::open(dir.path(), "dispatch-fcm").unwrap();
        let mut q = DailyQuota::new(3, 1_000, 0, "demo/xiaomi".into());
        assert_eq!(q.take(2, 10_000, &store), (2, Duration::from_millis(1_000)));
        // A restarted dispatcher reads today's count back.
        let mut q = DailyQuota::new(3, 1_000, 0, "demo/xiaomi".into());
        assert_eq!(
            q.take(2, 10_100, &store),
            (1, Duration::from_millis(900)),
            "one left today"
        );
        assert_eq!(
            q.take(1, 10_200, &store),
            (0, Duration::from_millis(800)),
            "full until the next day"
        );
        assert_eq!(q.take(5, 11_000, &store).0, 3, "a new day, three of five");
    }

    #[test]
    fn china_days_turn_at_beijing_midnight() {
        let q = DailyQuota::new(1, 86_400_000, day_offset_ms(Vendor::Vivo), "k".into());
        // 2026-01-01T15:59:59Z is 23:59:59 in Beijing.
        assert_eq!(q.day(1_767_283_199_000).1, Duration::from_secs(1));
    }

    #[test]
    fn requests_are_spaced_by_the_rate_and_a_held_permit_is_kept() {
        let limits = RateLimits::new(Some(20), Some(1_000), 10);
        let mut first = Held::default();
        assert_eq!(limits.try_acquire(10, &mut first), Ok(()));
        let mut second = Held::default();
        let wait = limits.try_acquire(10, &mut second).unwrap_err();
        // 1.05 s / 20 apart.
        assert!(
            wait > Duration::from_millis(40) && wait <= Duration::from_millis(53),
            "{wait:?}"
        );
        std::thread::sleep(wait);
        assert_eq!(limits.try_acquire(10, &mut second), Ok(()));
    }

    #[test]
    fn devices_wait_for_their_own_permits_holding_the_request_one() {
        let limits = RateLimits::new(Some(1_000), Some(100), 100);
        let mut a = Held::default();
        assert_eq!(limits.try_acquire(100, &mut a), Ok(()), "one full burst");
        std::thread::sleep(Duration::from_millis(2));
        let mut b = Held::default();
        let wait = limits.try_acquire(50, &mut b).unwrap_err();
        assert!(wait > Duration::from_millis(400), "{wait:?}");
        assert!(b.request && !b.devices, "{b:?}");
    }
}
