//! Messages between stages. They travel bincode-encoded through [`crate::codec`], in batches:
//! the broker's cost is per message, so one AMQP message carries many items.
//! No `skip_serializing_if` or untagged enums here: bincode is not self-describing.

use crate::public::CallEvent;
use crate::Vendor;
use serde::{Deserialize, Serialize};

/// The call a push belongs to, and which of its pushes it is. A call's pushes travel in the
/// call lane (queues of their own at every stage), so no message push holds them up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRef {
    pub call_id: String,
    pub event: CallEvent,
}

/// The text of a notification, as validated by ingest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub title: String,
    pub content: String,
    pub payload: Option<String>,
    pub resources_id: Option<String>,
}

/// One message to push to some recipients of one shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushJob {
    pub app_id: String,
    pub message_id: String,
    pub recipients: Vec<String>,
    pub notification: Notification,
    /// After this instant the push is worthless and is dropped as `expired`.
    pub expires_at_ms: u64,
    /// Set for a call's pushes (`message_id` is then the call id).
    pub call: Option<CallRef>,
    /// When ingest accepted the message (µs since the Unix epoch): its trace is filed by it.
    pub accepted_us: u64,
    /// Build each vendor request and trace it instead of sending it.
    pub dry_run: bool,
}

/// What presence consumes, in publish order: session events and jobs share one queue per shard,
/// so a `presence.online` published before a message is seen before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PresenceItem {
    Online {
        app_id: String,
        user_id: String,
        session_id: String,
        ttl_s: u64,
    },
    Offline {
        app_id: String,
        user_id: String,
        session_id: String,
    },
    Job(PushJob),
}

/// What the registry consumes, in publish order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegistryItem {
    Bind {
        app_id: String,
        user_id: String,
        push_id: String,
    },
    Unbind {
        app_id: String,
        user_id: String,
        push_id: String,
    },
    /// Recipients here are known to be offline.
    Job(PushJob),
}

/// One push to one device, as a dispatcher sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePush {
    pub app_id: String,
    pub message_id: String,
    pub user_id: String,
    pub push_id: String,
    pub vendor: Vendor,
    pub token: String,
    /// Bumped each time the device's token changes: an `invalid_token` answer deletes the device
    /// only if its token generation is still this one.
    pub token_gen: u64,
    pub package: Option<String>,
    pub notification: Notification,
    pub expires_at_ms: u64,
    /// Attempts made so far (0 on the first send).
    pub attempt: u32,
    /// Not to be sent before this instant (ms; 0 for at once): a vendor's Retry-After or a
    /// backoff longer than the longest delay queue.
    pub not_before_ms: u64,
    /// Times an operator replayed this push from the parked queue: a replayed push is a new
    /// send, not a duplicate of the one that failed.
    pub replays: u32,
    /// Set for a call's pushes.
    pub call: Option<CallRef>,
    /// The token is the device's VoIP token (APNs PushKit), not its alert token.
    pub voip: bool,
    /// When ingest accepted the message (µs since the Unix epoch): its trace is filed by it.
    pub accepted_us: u64,
    /// Build the vendor request and trace it instead of sending it.
    pub dry_run: bool,
}

impl DevicePush {
    /// Which push of a call this is, if it is one.
    pub fn call_event(&self) -> Option<CallEvent> {
        self.call.as_ref().map(|c| c.event)
    }
}

/// A call that ended, told to every dispatcher: none of its pushes to `invitees` (all when
/// None) may be sent after this, and those already sent are withdrawn. Remembered until
/// `until_ms`, when the call would have timed out anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEnded {
    pub app_id: String,
    pub call_id: String,
    pub invitees: Option<Vec<String>>,
    pub until_ms: u64,
}

/// Most device pushes in one message to a dispatcher: the largest vendor request (1000 tokens
/// for Huawei, Xiaomi, OPPO, vivo and Honor), so a message's pushes to one vendor reach the
/// dispatcher together and leave in as few vendor requests as the vendor allows.
pub const MAX_PUSHES_PER_MESSAGE: usize = 1000;

/// Any batch of stage items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch<T> {
    pub items: Vec<T>,
}
