//! The end of a call, at a dispatcher. Ingest tells every dispatcher replica (over the fanout
//! exchange `pushmesh.calls.ended`) that a call ended for some invitees; the replica then
//! - remembers it (`sent::calls`), so no invitation of the call is sent after: one coming
//!   through the queue, back from a delay queue or replayed from the parked queue ends
//!   `cancelled` (`DispatchHandler::plan`);
//! - tells the app's vendor actor, which answers the invitations still waiting `cancelled`;
//! - withdraws the invitations the vendor already accepted: a message the app reads to stop
//!   ringing (`call_event` cancel), where the vendor can carry one (docs/vendors/).

use crate::actor::EndCall;
use crate::sent::SentStore;
use crate::{VendorActor, VendorApi};
use actix::Addr;
use pushmesh_contract::public::CallEvent;
use pushmesh_contract::stage::{Batch, CallEnded, CallRef, DevicePush};
use pushmesh_contract::{codec, now_ms, Vendor};
use pushmesh_runtime::amqp::topology::{self, Lane, ERROR_HEADER};
use pushmesh_runtime::amqp::{
    blocking_commit, AmqpError, Delivery, Handled, Outgoing, StageHandler, Work,
};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;

/// How long after its call would have stopped ringing a withdrawal may still be sent: a phone
/// that got the invitation late may still ring.
const WITHDRAW_GRACE_MS: u64 = 60_000;

pub struct CallsEndedHandler<V: VendorApi> {
    vendor: Vendor,
    actors: HashMap<String, (Addr<VendorActor<V>>, usize)>,
    sent: Arc<dyn SentStore>,
    /// Ended calls that waited in the queue when the session began, still to be taken; the
    /// call lane starts once they are (see [`CallsEndedHandler::caught_up`]).
    backlog: u32,
    caught_up: watch::Sender<bool>,
}

impl<V: VendorApi> CallsEndedHandler<V> {
    pub fn new(
        vendor: Vendor,
        actors: HashMap<String, (Addr<VendorActor<V>>, usize)>,
        sent: Arc<dyn SentStore>,
        backlog: u32,
    ) -> Self {
        let (caught_up, _) = watch::channel(backlog == 0);
        CallsEndedHandler {
            vendor,
            actors,
            sent,
            backlog,
            caught_up,
        }
    }

    /// Resolves once the ended calls that waited at the start are known: an invitation of one
    /// taken before would ring after its call ended.
    pub fn caught_up(&self) -> impl std::future::Future<Output = ()> + use<V> {
        let mut ready = self.caught_up.subscribe();
        async move {
            let _ = ready.wait_for(|r| *r).await;
        }
    }

    /// Remembers the end, stops what waits, and returns the withdrawals of what rang.
    fn end(&self, ended: CallEnded) -> Result<Vec<DevicePush>, AmqpError> {
        let known = self.sent.end_call(&ended).map_err(AmqpError::stage)?;
        let end = EndCall {
            call_id: known.call_id.clone(),
            invitees: ended.invitees,
        };
        if let Some((actor, _)) = self.actors.get(&known.app_id) {
            actor.do_send(end.clone());
        }
        if !V::WITHDRAWS {
            return Ok(Vec::new());
        }
        let rung = self.sent.rung(&known.app_id, &known.call_id);
        let rung = rung.map_err(AmqpError::stage)?;
        Ok(rung
            .into_iter()
            .filter(|p| end.covers(&p.user_id))
            .map(withdrawal)
            .collect())
    }
}

/// The message that stops a phone ringing for `invite`: same device, `call_event` cancel.
pub(crate) fn withdrawal(invite: DevicePush) -> DevicePush {
    let call_id = invite.message_id.clone();
    DevicePush {
        call: Some(CallRef {
            call_id,
            event: CallEvent::Cancel,
        }),
        expires_at_ms: invite.expires_at_ms.max(now_ms()) + WITHDRAW_GRACE_MS,
        attempt: 0,
        not_before_ms: 0,
        ..invite
    }
}

impl<V: VendorApi> StageHandler for CallsEndedHandler<V> {
    async fn handle(&mut self, batch: &[Delivery]) -> Result<Work, AmqpError> {
        let mut out = Vec::new();
        let mut withdrawals = Vec::new();
        for d in batch {
            match codec::decode::<CallEnded>(&d.data) {
                Ok(ended) => withdrawals.extend(self.end(ended)?),
                Err(e) => out.push(
                    Outgoing::to_queue(topology::DEAD_LETTER_QUEUE, d.data.clone())
                        .with_header(ERROR_HEADER, format!("calls ended: {e}")),
                ),
            }
        }
        if !withdrawals.is_empty() {
            let queue = topology::dispatch_queue(self.vendor, Lane::Call);
            let body = codec::encode(&Batch { items: withdrawals });
            out.push(Outgoing::to_queue(queue, body));
        }
        self.backlog = self.backlog.saturating_sub(batch.len() as u32);
        if self.backlog == 0 {
            self.caught_up.send_replace(true);
        }
        let sent = self.sent.clone();
        Ok(Handled {
            outputs: out,
            commit: Some(blocking_commit(move || sent.flush())),
        }
        .into())
    }
}
