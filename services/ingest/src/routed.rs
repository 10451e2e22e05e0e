//! What one batch becomes: per-shard items for presence (in their lane) and the registry,
//! messages that go out as they are, and the ids passed on (recorded once the outputs are
//! confirmed).

use crate::dedup::DedupKey;
use pushmesh_contract::codec;
use pushmesh_contract::stage::{Batch, PresenceItem, RegistryItem};
use pushmesh_runtime::amqp::topology::{self, Lane};
use pushmesh_runtime::amqp::Outgoing;
use pushmesh_runtime::trace::TraceBatch;
use std::collections::BTreeMap;

pub(crate) struct Routed {
    presence: BTreeMap<(u32, Lane), Vec<PresenceItem>>,
    registry: BTreeMap<u32, Vec<RegistryItem>>,
    /// Refused inputs, outcomes and ended calls.
    pub direct: Vec<Outgoing>,
    pub passed_on: Vec<DedupKey>,
    pub trace: TraceBatch,
}

impl Routed {
    pub fn new(trace: TraceBatch) -> Self {
        Routed {
            presence: BTreeMap::new(),
            registry: BTreeMap::new(),
            direct: Vec::new(),
            passed_on: Vec::new(),
            trace,
        }
    }

    pub fn presence(&mut self, shard: u32, lane: Lane, item: PresenceItem) {
        self.presence.entry((shard, lane)).or_default().push(item);
    }

    pub fn registry(&mut self, shard: u32, item: RegistryItem) {
        self.registry.entry(shard).or_default().push(item);
    }

    /// One message per shard, lane and stage, after the direct ones; then the trace.
    pub fn outputs(self) -> Vec<Outgoing> {
        let mut out = self.direct;
        out.extend(self.trace.output());
        for (shard, items) in self.registry {
            let body = codec::encode(&Batch { items });
            let queue = topology::registry_queue(shard, Lane::Message);
            out.push(Outgoing::to_queue(queue, body));
        }
        for ((shard, lane), items) in self.presence {
            let body = codec::encode(&Batch { items });
            out.push(Outgoing::to_queue(
                topology::presence_queue(shard, lane),
                body,
            ));
        }
        out
    }
}
