//! The pushes a dispatcher is sending right now, across all its batches in flight. The same
//! push in two batches at once (an upstream stage published it twice) is sent by the first:
//! the later batch is acked only after the first one, so if that one fails both come back.

use pushmesh_contract::public::CallEvent;
use pushmesh_contract::stage::DevicePush;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

/// A push's identity: app, message, device, replay count (a replay is a new send) and call
/// event.
type PushKey = (String, String, String, u32, Option<CallEvent>);

#[derive(Clone, Default)]
pub(crate) struct InFlight(Arc<Mutex<HashSet<PushKey>>>);

impl InFlight {
    /// An empty claim for one batch.
    pub fn claim(&self) -> Claim {
        Claim {
            set: self.clone(),
            keys: Vec::new(),
        }
    }
}

/// One batch's pushes, in flight until the claim is dropped (its requests answered, or the batch
/// dropped with its session: then they may be sent on redelivery).
pub(crate) struct Claim {
    set: InFlight,
    keys: Vec<PushKey>,
}

impl Claim {
    /// Adds `push` to this batch; false if a batch in flight (this one included) has it.
    pub fn take(&mut self, push: &DevicePush) -> bool {
        let key = (
            push.app_id.clone(),
            push.message_id.clone(),
            push.push_id.clone(),
            push.replays,
            push.call_event(),
        );
        let fresh = lock(&self.set.0).insert(key.clone());
        if fresh {
            self.keys.push(key);
        }
        fresh
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut set = lock(&self.set.0);
        for k in &self.keys {
            set.remove(k);
        }
    }
}

/// The state behind the dispatcher's mutexes stays consistent at every point a panic could
/// leave it, so a poisoned lock is taken as it is.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
