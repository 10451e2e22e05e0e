//! What each stage did with a message: the events of its trace (docs/contract.md, Trace). Stages
//! publish them in batches to the queue `pushmesh.trace`; the registry keeps them for
//! `trace.window_s` and answers them as JSON, in time order.

use crate::public::OutcomeStatus;
use crate::Vendor;
use serde::{Deserialize, Serialize};

/// One thing a stage did with one message (for one recipient or device, where it says).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    pub app_id: String,
    /// The message id, or a call's id for the call's events.
    pub message_id: String,
    /// When, in microseconds since the Unix epoch: a stage's events of one batch are strictly
    /// in the order it recorded them.
    pub at_us: u64,
    /// When ingest accepted the message (µs): every stage files its events of the message under
    /// it, so they are stored together. Its own `at_us` for an event of no accepted message.
    pub filed_us: u64,
    pub stage: TraceStage,
    pub user_id: Option<String>,
    pub push_id: Option<String>,
    pub vendor: Option<Vendor>,
    pub what: TraceWhat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceStage {
    Ingest,
    Presence,
    Registry,
    Dispatch,
}

/// Names are snake_case in JSON, where the variant becomes the event's `event` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceWhat {
    /// Ingest took the message, for this many recipients (the sender and repeats left out).
    Accepted {
        recipients: u32,
        dry_run: bool,
    },
    /// Ingest refused the input (the reason names the field).
    Rejected {
        reason: String,
    },
    /// Seen within the dedup window: not passed on again.
    Duplicate,
    /// The recipient had live sessions: no push.
    Online {
        sessions: u32,
    },
    /// The recipient had no live session: its devices are looked up.
    Offline,
    /// The recipient's bound devices (none: no push).
    Devices {
        push_ids: Vec<String>,
    },
    /// A vendor request with this push in it went out and came back.
    Sent {
        attempt: u32,
        resources_id: Option<String>,
        took_ms: u64,
        result: String,
        vendor_message_id: Option<String>,
        detail: Option<String>,
    },
    /// Not sent now: sent again not before `due_ms` (a retry uses an attempt, a deferral does not).
    Retry {
        due_ms: u64,
        reason: String,
    },
    Deferred {
        due_ms: u64,
        reason: String,
    },
    /// Dry run: the vendor requests as they would have been sent (secrets and tokens
    /// redacted). One push's requests; a list request carries the other devices too.
    DryRun {
        requests: Vec<VendorRequest>,
    },
    /// The push's final result, as its outcome says.
    Outcome {
        status: OutcomeStatus,
        detail: Option<String>,
    },
}

impl TraceEvent {
    pub fn at_ms(&self) -> u64 {
        self.at_us / 1000
    }

    /// The event as the trace API answers it: its fields and `event`, the kind, in one object.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::json!({
            "at_ms": self.at_us / 1000,
            "at_us": self.at_us,
            "stage": self.stage,
        });
        for (key, value) in [("user_id", &self.user_id), ("push_id", &self.push_id)] {
            if let Some(v) = value {
                out[key] = v.as_str().into();
            }
        }
        if let Some(v) = self.vendor {
            out["vendor"] = v.as_str().into();
        }
        match serde_json::to_value(&self.what).unwrap_or_default() {
            serde_json::Value::String(kind) => out["event"] = kind.into(),
            serde_json::Value::Object(map) => {
                for (kind, fields) in map {
                    out["event"] = kind.into();
                    if let serde_json::Value::Object(fields) = fields {
                        for (k, v) in fields.into_iter().filter(|(_, v)| !v.is_null()) {
                            out[k] = v;
                        }
                    }
                }
            }
            _ => {}
        }
        out
    }
}

/// An HTTP request to a vendor, as a dry run shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}
