//! A batch's vendor requests: each goes to its app's vendor actor, which sends it when its
//! limits, breaker and credential allow, and its answers are settled as they arrive.

use super::{Outputs, Shared};
use crate::inflight::Claim;
use crate::{SendRequest, VendorApi};
use futures_util::stream::{FuturesUnordered, StreamExt};
use pushmesh_contract::now_ms;
use pushmesh_contract::stage::DevicePush;
use pushmesh_runtime::amqp::AmqpError;
use std::sync::Arc;

impl<V: VendorApi> Shared<V> {
    /// Hands every request to its vendor actor at once and settles each answer as it arrives:
    /// a push the vendor accepted is recorded at once, so a dispatcher killed mid-batch resends
    /// only what was in flight, not the whole batch.
    pub(super) async fn send_all(
        self: Arc<Self>,
        requests: Vec<Vec<DevicePush>>,
        mut o: Outputs,
        sending: Claim,
    ) -> Result<Outputs, AmqpError> {
        o.sent_at_ms = now_ms();
        let mut answers: FuturesUnordered<_> = requests
            .into_iter()
            .map(|pushes| self.actors[&pushes[0].app_id].0.send(SendRequest(pushes)))
            .collect();
        while let Some(answered) = answers.next().await {
            // The actor stops only with the dispatcher: the batch is left for redelivery.
            let (pushes, attempts) = answered.map_err(AmqpError::stage)?.ok_or_else(|| {
                AmqpError::stage(format!("the {} vendor actor stopped", self.vendor))
            })?;
            let now = now_ms();
            let first_new = o.settled.len();
            for (push, attempt) in pushes.into_iter().zip(attempts) {
                self.settle(push, attempt, now, &mut o);
            }
            self.record(&o.settled[first_new..])?;
        }
        drop(sending);
        Ok(o)
    }
}
