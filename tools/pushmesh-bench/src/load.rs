//! Driving load: a pipelined confirming publisher, device registration, vendor-sim counters.

use crate::mesh::{self, Mesh};
use futures_util::{stream, StreamExt};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::PublisherConfirm;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Publishes persistent messages with confirms, keeping up to `window` unconfirmed: as fast as
/// the broker confirms, without a round trip per message.
pub struct Publisher {
    channel: Channel,
    pending: VecDeque<PublisherConfirm>,
    window: usize,
    _conn: Connection,
}

impl Publisher {
    pub async fn connect(url: &str, window: usize) -> anyhow::Result<Self> {
        let conn = Connection::connect(url, ConnectionProperties::default()).await?;
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Publisher {
            channel,
            pending: VecDeque::new(),
            window,
            _conn: conn,
        })
    }

    pub async fn publish(&mut self, exchange: &str, key: &str, body: &[u8]) -> anyhow::Result<()> {
        if self.pending.len() >= self.window {
            if let Some(c) = self.pending.pop_front() {
                c.await?;
            }
        }
        let c = self.publish_confirm(exchange, key, body).await?;
        self.pending.push_back(c);
        Ok(())
    }

    /// Publishes one message outside the window and hands back its confirm.
    pub async fn publish_confirm(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
    ) -> anyhow::Result<PublisherConfirm> {
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        Ok(self
            .channel
            .basic_publish(
                exchange.into(),
                key.into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await?)
    }

    pub async fn flush(&mut self) -> anyhow::Result<()> {
        while let Some(c) = self.pending.pop_front() {
            c.await?;
        }
        Ok(())
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }
}

/// Releases `rate` messages a second, a hundredth of them every 10 ms (the fraction a tick
/// cannot send carried to the next, so 150/s is 150/s).
pub struct Pace {
    tick: tokio::time::Interval,
    per_tick: f64,
    owed: f64,
}

impl Pace {
    pub fn new(rate: f64) -> Self {
        Pace {
            tick: tokio::time::interval(Duration::from_millis(10)),
            per_tick: rate / 100.0,
            owed: 0.0,
        }
    }

    /// Waits for the next tick; how many to send now.
    pub async fn next(&mut self) -> u64 {
        self.tick.tick().await;
        self.owed += self.per_tick;
        let now = self.owed.floor();
        self.owed -= now;
        now as u64
    }
}

/// The values at the given fractions of the sorted samples (0 when there are none).
pub fn percentiles<const N: usize>(samples: &mut [u64], at: [f64; N]) -> [u64; N] {
    samples.sort_unstable();
    at.map(|p| {
        let i = (samples.len() as f64 * p) as usize;
        samples
            .get(i.min(samples.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    })
}

/// An `im.message` of about the size an IM server sends, its payload the publish time.
pub fn peer_message(id: &str, to: &str) -> Vec<u8> {
    json!({
        "app_id": "bench", "message_id": id, "conversation_type": "peer",
        "conversation_id": format!("c-{to}"), "sender_id": "bench-sender", "recipients": [to],
        "push": {"title": "New message", "content": "Hello from the pushmesh benchmark, how are you?",
                 "payload": pushmesh_contract::now_ms().to_string()}
    })
    .to_string()
    .into_bytes()
}

pub fn token(vendor: &str, i: usize) -> String {
    if vendor == "apns" {
        format!("{:064x}", i + 1)
    } else {
        format!("{vendor}-bench-{i}")
    }
}

/// Device `i`'s token in the registry scenario, shaped as FCM's (an instance id, a colon,
/// `APA91b` and the rest; 163 characters) and as random as one, so that a store which
/// compresses its pages cannot make the scenario's tokens smaller than a real registry's.
pub fn fcm_like_token(i: usize) -> String {
    const BASE64URL: &[u8; 64] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // Seeded by the device: the same tokens every run.
    let mut rng = fastrand::Rng::with_seed(i as u64);
    let mut char = || BASE64URL[rng.usize(..BASE64URL.len())] as char;
    let instance: String = (0..22).map(|_| char()).collect();
    let rest: String = (0..134).map(|_| char()).collect();
    format!("{instance}:APA91b{rest}")
}

/// Registers and binds `users` devices (user i gets a device of `vendor_of(i)`), 32 at a time.
pub async fn register(
    m: &Mesh,
    users: std::ops::Range<usize>,
    vendor_of: impl Fn(usize) -> &'static str,
) -> anyhow::Result<()> {
    let base = format!("http://127.0.0.1:{}/v1/apps/bench", mesh::port("registry"));
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let key = std::fs::read_to_string(fixtures.join("bench-api-keys"))?;
    let bearer = format!("Bearer {}", key.trim());
    let results: Vec<anyhow::Result<()>> = stream::iter(users)
        .map(|i| {
            let (http, base, vendor) = (m.http.clone(), base.clone(), vendor_of(i));
            let bearer = bearer.clone();
            async move {
                let r: Value = http
                    .post(format!("{base}/devices"))
                    .header("authorization", &bearer)
                    .json(&json!({"vendor": vendor, "token": token(vendor, i)}))
                    .send()
                    .await?
                    .json()
                    .await?;
                let push_id = r["push_id"].as_str().unwrap_or_default();
                http.put(format!("{base}/devices/{push_id}/user"))
                    .header("authorization", &bearer)
                    .json(&json!({"user_id": format!("u{i}")}))
                    .send()
                    .await?;
                Ok(())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    results.into_iter().collect()
}

/// (requests, accepted device pushes) vendor-sim has seen for `vendor`.
pub async fn count(m: &Mesh, vendor: &str) -> (u64, u64) {
    let v: Value = match m
        .http
        .get(format!("{}/sim/{vendor}/count", mesh::sim()))
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    (
        v["requests"].as_u64().unwrap_or(0),
        v["accepted"].as_u64().unwrap_or(0),
    )
}

pub async fn sim_post(m: &Mesh, path: &str, body: Value) {
    let _ = m
        .http
        .post(format!("{}{path}", mesh::sim()))
        .json(&body)
        .send()
        .await;
}

/// A progress line at most once a second: `  {what}: {n}/{target} ({rate}/s)`, the rate since
/// the phase began.
pub struct Progress {
    what: &'static str,
    target: u64,
    since: Instant,
    last_print: Instant,
}

impl Progress {
    pub fn new(what: &'static str, target: u64, since: Instant) -> Self {
        Progress {
            what,
            target,
            since,
            last_print: Instant::now(),
        }
    }

    pub fn tick(&mut self, n: u64) {
        if self.last_print.elapsed() >= Duration::from_secs(1) {
            let rate = n as f64 / self.since.elapsed().as_secs_f64();
            println!("  {}: {n}/{} ({rate:.0}/s)", self.what, self.target);
            self.last_print = Instant::now();
        }
    }
}

/// Waits until `done()` reaches `target`, printing progress every second; returns the time
/// from `since` to the moment it was reached.
pub async fn wait_until<F, Fut>(
    what: &'static str,
    target: u64,
    since: Instant,
    limit: Duration,
    mut done: F,
) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let mut progress = Progress::new(what, target, since);
    loop {
        let n = done().await;
        if n >= target {
            return Ok(since.elapsed());
        }
        if since.elapsed() > limit {
            anyhow::bail!("{what}: only {n} of {target} after {limit:?}");
        }
        progress.tick(n);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_tokens_are_shaped_as_fcm_and_each_its_own() {
        let tokens: Vec<String> = (0..1000).map(fcm_like_token).collect();
        for t in &tokens {
            assert_eq!(t.len(), 163, "{t}");
            assert_eq!(&t[22..29], ":APA91b", "{t}");
            let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
            assert!(t[..22].chars().chain(t[29..].chars()).all(base64url), "{t}");
        }
        let distinct: std::collections::HashSet<&String> = tokens.iter().collect();
        assert_eq!(distinct.len(), tokens.len());
        // Random, not padded: every base64url character turns up in the first thousand.
        let used: std::collections::HashSet<char> = tokens.iter().flat_map(|t| t.chars()).collect();
        assert_eq!(used.len(), 64 + 1, "64 base64url characters and the colon");
        assert_eq!(fcm_like_token(7), tokens[7], "the same tokens every run");
    }

    #[test]
    fn percentiles_pick_from_the_sorted_samples() {
        let mut samples: Vec<u64> = (1..=1000).rev().collect();
        assert_eq!(
            percentiles(&mut samples, [0.5, 0.99, 0.999]),
            [501, 991, 1000]
        );
        assert_eq!(percentiles(&mut [], [0.5]), [0]);
    }
}
