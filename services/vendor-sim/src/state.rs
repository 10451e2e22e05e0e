//! What vendor-sim remembers and what tests can tell it, per vendor.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// One request to a vendor's send endpoint, as received and as answered.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub at_ms: u64,
    pub status: u16,
    /// The device token the request addressed (one entry per token for list APIs).
    pub tokens: Vec<String>,
    /// The tokens the vendor accepted a push for (empty when the request was refused).
    pub accepted: Vec<String>,
    pub body: serde_json::Value,
}

/// A fault to answer instead of the real result: for the next `count` requests, or until
/// `until_ms`, whichever the test set.
#[derive(Debug, Clone, Deserialize)]
pub struct Fault {
    pub status: u16,
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub for_ms: Option<u64>,
    #[serde(default)]
    pub retry_after_s: Option<u64>,
    #[serde(skip)]
    pub until_ms: Option<u64>,
}

#[derive(Debug, Default)]
pub struct VendorState {
    pub requests: Vec<Recorded>,
    pub dead_tokens: HashSet<String>,
    pub fault: Option<Fault>,
    /// access token -> (expiry in ms, the account it was issued to)
    pub access_tokens: HashMap<String, (u64, String)>,
    /// APNs: per team, the provider token it last switched to, and when.
    pub provider_tokens: HashMap<String, (String, u64)>,
    pub tokens_issued: u64,
    /// Added before every send answer: a slow vendor.
    pub latency_ms: u64,
    /// When not empty, `latency_ms` slows only requests to these tokens (FCM): one slow device.
    pub latency_tokens: HashSet<String>,
    /// FCM send requests received and now waiting out `latency_ms`: a test knows a slow request
    /// is at the vendor, not on its way.
    pub held: u64,
    /// Benchmarks: keep only each request's time, tokens and payload, not its whole body.
    pub compact: bool,
    /// Connections accepted (the APNs stand-in counts them: APNs treats churn as abuse).
    pub connections: u64,
    /// Request ids seen (vivo's `requestId`): a repeat is answered but not delivered again.
    pub request_ids: HashSet<String>,
    /// Message bodies stored for a later list push (vivo's `saveListPayload`), by task id.
    pub stored: HashMap<String, serde_json::Value>,
}

impl VendorState {
    /// The fault to answer now, if one is active; counts it down.
    pub fn take_fault(&mut self, now_ms: u64) -> Option<Fault> {
        let fault = self.fault.as_mut()?;
        let active = match (fault.count, fault.until_ms) {
            (Some(0), _) => false,
            (_, Some(until)) if now_ms >= until => false,
            _ => true,
        };
        if !active {
            self.fault = None;
            return None;
        }
        if let Some(c) = fault.count.as_mut() {
            *c -= 1;
        }
        Some(fault.clone())
    }

    /// The account a live access token was issued to.
    pub fn token_owner(&self, token: &str, now_ms: u64) -> Option<&str> {
        self.access_tokens
            .get(token)
            .filter(|(exp, _)| *exp > now_ms)
            .map(|(_, owner)| owner.as_str())
    }

    /// Issues an access token to `owner`, valid for `ttl_s`.
    pub fn issue_token(&mut self, owner: &str, ttl_s: u64, now_ms: u64) -> String {
        let token = format!("sim-{}", uuid::Uuid::new_v4().simple());
        self.access_tokens
            .insert(token.clone(), (now_ms + ttl_s * 1000, owner.to_owned()));
        self.tokens_issued += 1;
        token
    }

    /// Records a send request and its answer.
    pub fn record(
        &mut self,
        at_ms: u64,
        status: u16,
        tokens: Vec<String>,
        accepted: Vec<String>,
        body: serde_json::Value,
    ) {
        let body = if self.compact {
            // FCM's data.payload, where the benchmark puts its publish time.
            serde_json::json!({ "payload": body["message"]["data"]["payload"] })
        } else {
            body
        };
        self.requests.push(Recorded {
            at_ms,
            status,
            tokens,
            accepted,
            body,
        });
    }
}

#[derive(Debug, Default)]
pub struct SimState {
    pub vendors: Mutex<HashMap<String, VendorState>>,
}

impl SimState {
    pub fn with<T>(&self, vendor: &str, f: impl FnOnce(&mut VendorState) -> T) -> T {
        let mut all = self
            .vendors
            .lock()
            .expect("sim state lock is never poisoned");
        f(all.entry(vendor.to_owned()).or_default())
    }
}
