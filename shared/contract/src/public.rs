//! The public contract with the IM server: JSON bodies on exchange `pushmesh.ingest` and
//! `pushmesh.outcomes`. Field names here are the contract in docs/contract.md; change both or neither.

use crate::Vendor;
use serde::{Deserialize, Serialize};

/// Routing keys the IM server publishes with on `pushmesh.ingest`.
pub mod routing {
    pub const IM_MESSAGE: &str = "im.message";
    pub const PRESENCE_ONLINE: &str = "presence.online";
    pub const PRESENCE_OFFLINE: &str = "presence.offline";
    pub const BINDING_BIND: &str = "binding.bind";
    pub const BINDING_UNBIND: &str = "binding.unbind";
    pub const CALL_INVITE: &str = "im.call.invite";
    pub const CALL_CANCEL: &str = "im.call.cancel";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationType {
    Peer,
    Group,
}

/// `im.message`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImMessage {
    pub app_id: String,
    pub message_id: String,
    pub conversation_type: ConversationType,
    pub conversation_id: String,
    pub sender_id: String,
    pub recipients: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_s: Option<u64>,
    /// Everything happens as usual up to the vendor request, which is built, redacted and
    /// recorded in the trace instead of being sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// `im.call.invite`: ring the offline invitees' phones for up to `timeout_s`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallInvite {
    pub app_id: String,
    pub call_id: String,
    pub inviter_id: String,
    pub invitees: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushConfig>,
}

/// `im.call.cancel`: the invitation ended for `invitees` (all of them when absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCancel {
    pub app_id: String,
    pub call_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitees: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushConfig>,
}

/// Which push of a call: the ringing invitation, the message that stops a ringing phone after
/// a cancel, or the "missed call" notification a cancel may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallEvent {
    Invite,
    Cancel,
    Missed,
}

impl CallEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            CallEvent::Invite => "invite",
            CallEvent::Cancel => "cancel",
            CallEvent::Missed => "missed",
        }
    }
}

/// What the notification says. No push config on a message means no push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushConfig {
    pub title: String,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources_id: Option<String>,
}

/// `presence.online`: the session is online until `ttl_s` passes without another one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceOnline {
    pub app_id: String,
    pub user_id: String,
    pub session_id: String,
    pub ttl_s: u64,
}

/// `presence.offline`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceOffline {
    pub app_id: String,
    pub user_id: String,
    pub session_id: String,
}

/// `binding.bind` and `binding.unbind`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingEvent {
    pub app_id: String,
    pub user_id: String,
    pub push_id: String,
}

/// What happened to one push (or one recipient), on exchange `pushmesh.outcomes`
/// with routing key `outcome.<vendor>.<status>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub app_id: String,
    pub message_id: String,
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_id: Option<String>,
    /// A vendor name, or `none` for recipient-level results (`online`, `no_device`).
    pub vendor: String,
    pub status: OutcomeStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The call a call push belongs to (its `message_id` is the call id too), and which push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_event: Option<CallEvent>,
    pub at_ms: u64,
}

impl Outcome {
    /// A recipient-level outcome (`online`, `no_device`): no device, vendor `none`.
    pub fn recipient(app_id: &str, message_id: &str, user_id: &str, status: OutcomeStatus) -> Self {
        Outcome {
            app_id: app_id.to_owned(),
            message_id: message_id.to_owned(),
            user_id: user_id.to_owned(),
            push_id: None,
            vendor: "none".to_owned(),
            status,
            vendor_message_id: None,
            detail: None,
            call_id: None,
            call_event: None,
            at_ms: crate::now_ms(),
        }
    }

    /// The same outcome, of a push of `call`.
    pub fn of_call(mut self, call: Option<&crate::stage::CallRef>) -> Self {
        if let Some(c) = call {
            self.call_id = Some(c.call_id.clone());
            self.call_event = Some(c.event);
        }
        self
    }

    pub fn routing_key(&self) -> String {
        format!("outcome.{}.{}", self.vendor, self.status.as_str())
    }

    pub fn vendor(&self) -> Option<Vendor> {
        self.vendor.parse().ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// Accepted by the vendor.
    Delivered,
    /// The vendor says the token is dead; the registry deletes the device.
    InvalidToken,
    /// The push outlived its TTL before a vendor accepted it.
    Expired,
    /// The vendor (or pushmesh) refused the push for good; retrying will not help.
    Rejected,
    /// Retries ran out.
    Failed,
    /// The recipient was online: no push needed.
    Online,
    /// The recipient has no bound device.
    NoDevice,
    /// The call ended (cancelled, answered elsewhere, rejected) before the push was sent.
    Cancelled,
    /// A dry run: the vendor request was built and traced, not sent.
    DryRun,
}

impl OutcomeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Delivered => "delivered",
            OutcomeStatus::InvalidToken => "invalid_token",
            OutcomeStatus::Expired => "expired",
            OutcomeStatus::Rejected => "rejected",
            OutcomeStatus::Failed => "failed",
            OutcomeStatus::Online => "online",
            OutcomeStatus::NoDevice => "no_device",
            OutcomeStatus::Cancelled => "cancelled",
            OutcomeStatus::DryRun => "dry_run",
        }
    }
}
