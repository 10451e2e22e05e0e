//! The requests a vendor actor holds until they may go, and the message that ends a call's
//! waiting invitations.

use crate::limits::Held;
use crate::Attempt;
use actix::Message;
use pushmesh_contract::public::CallEvent;
use pushmesh_contract::stage::DevicePush;
use std::collections::VecDeque;
use tokio::sync::oneshot;

/// The requests waiting for their turn: calls first, then messages, each in arrival order.
#[derive(Default)]
pub(super) struct Waiting {
    pub(super) calls: VecDeque<Pending>,
    pub(super) messages: VecDeque<Pending>,
}

impl Waiting {
    /// Whether the request that goes next is a call's; None when nothing waits.
    pub(super) fn next_is_call(&self) -> Option<bool> {
        match (self.calls.is_empty(), self.messages.is_empty()) {
            (false, _) => Some(true),
            (true, false) => Some(false),
            (true, true) => None,
        }
    }

    /// The queue whose head goes next.
    pub(super) fn next(&mut self) -> &mut VecDeque<Pending> {
        match self.calls.is_empty() {
            false => &mut self.calls,
            true => &mut self.messages,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.calls.len() + self.messages.len()
    }

    pub(super) fn lane(&mut self, call: bool) -> &mut VecDeque<Pending> {
        match call {
            true => &mut self.calls,
            false => &mut self.messages,
        }
    }
}

/// A request waiting for its turn, or out at the vendor.
pub(super) struct Pending {
    /// The pushes to send.
    pub(super) pushes: Vec<DevicePush>,
    /// Pushes answered without being sent: over today's quota, or of a call that ended.
    pub(super) settled: Vec<(DevicePush, Attempt)>,
    /// A call's: it goes before every message, and an open breaker does not hold it.
    pub(super) call: bool,
    pub(super) reply: oneshot::Sender<(Vec<DevicePush>, Vec<Attempt>)>,
    pub(super) held: Held,
    /// Counted against today's quota.
    pub(super) counted: bool,
    /// Sent once more with a new credential after the vendor refused the first.
    pub(super) reauthorized: bool,
}

impl Pending {
    pub(super) fn sent(&self) -> &[DevicePush] {
        &self.pushes
    }

    /// Answers the requester: `attempts` for the pushes sent, and those settled unsent.
    pub(super) fn answer(self, mut attempts: Vec<Attempt>) {
        let mut pushes = self.pushes;
        for (push, attempt) in self.settled {
            pushes.push(push);
            attempts.push(attempt);
        }
        // The requester is gone only when its session ended: the pushes come back anyway.
        let _ = self.reply.send((pushes, attempts));
    }

    /// Settles unsent the pushes to `ended`'s invitees, if this is its invitation.
    pub(super) fn end_call(&mut self, ended: &EndCall) {
        let push = &self.pushes[0];
        if push.call_event() != Some(CallEvent::Invite) || push.message_id != ended.call_id {
            return;
        }
        let (gone, kept) = std::mem::take(&mut self.pushes)
            .into_iter()
            .partition(|p| ended.covers(&p.user_id));
        self.pushes = kept;
        let detail = "the call ended before the push was sent";
        let cancelled = Attempt::Cancelled {
            detail: detail.into(),
        };
        let gone: Vec<DevicePush> = gone;
        self.settled
            .extend(gone.into_iter().map(|p| (p, cancelled.clone())));
    }
}

/// A call of this app ended for `invitees` (all when None): its invitations still waiting are
/// not sent.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct EndCall {
    pub call_id: String,
    pub invitees: Option<Vec<String>>,
}

impl EndCall {
    pub fn covers(&self, user: &str) -> bool {
        self.invitees
            .as_ref()
            .is_none_or(|users| users.iter().any(|u| u == user))
    }
}
