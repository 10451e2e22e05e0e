//! Takes the stages' trace batches from `pushmesh.trace` into the trace store; acked once they
//! are on disk. Once a minute, hours past the window are dropped.

use super::TraceStore;
use pushmesh_contract::codec;
use pushmesh_contract::now_ms;
use pushmesh_contract::stage::Batch;
use pushmesh_contract::trace::TraceEvent;
use pushmesh_runtime::amqp::topology::{self, ERROR_HEADER};
use pushmesh_runtime::amqp::{
    blocking_commit, AmqpError, Delivery, Handled, Outgoing, StageHandler, Work,
};
use std::sync::Arc;

pub struct TraceHandler {
    pub store: Arc<TraceStore>,
    pub window_ms: u64,
    pub last_prune_ms: u64,
}

impl StageHandler for TraceHandler {
    async fn handle(&mut self, batch: &[Delivery]) -> Result<Work, AmqpError> {
        let mut outputs = Vec::new();
        for d in batch {
            match codec::decode::<Batch<TraceEvent>>(&d.data) {
                Ok(events) => self.store.add(&events.items),
                Err(e) => {
                    tracing::error!(error = %e, "undecodable trace batch sent to the dead-letter queue");
                    outputs.push(
                        Outgoing::to_queue(topology::DEAD_LETTER_QUEUE, d.data.clone())
                            .with_header(ERROR_HEADER, format!("trace: {e}")),
                    );
                }
            }
        }
        let now = now_ms();
        let prune = now.saturating_sub(self.last_prune_ms) > 60_000;
        if prune {
            self.last_prune_ms = now;
        }
        let (store, window_ms) = (self.store.clone(), self.window_ms);
        let commit = blocking_commit(move || {
            if prune {
                store.prune(now, window_ms)?;
            }
            store.flush()
        });
        Ok(Handled {
            outputs,
            commit: Some(commit),
        }
        .into())
    }
}
