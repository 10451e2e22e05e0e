//! What a stage records of the messages it handles (`pushmesh_contract::trace`): a batch's
//! events travel as one message to `pushmesh.trace`, published and confirmed with the batch's
//! other outputs, so a trace is as complete as the work it describes.

use crate::amqp::topology::TRACE_QUEUE;
use crate::amqp::Outgoing;
use crate::recent;
use crate::settings::TraceSettings;
use pushmesh_contract::codec;
use pushmesh_contract::stage::Batch;
use pushmesh_contract::trace::{TraceEvent, TraceStage, TraceWhat};
use pushmesh_contract::Vendor;
use std::collections::HashSet;
use std::sync::Arc;

/// Which messages a stage traces: the same ones at every stage (a hash of app and message id),
/// and every one of a flagged app or user (`trace.always`).
#[derive(Debug, Clone)]
pub struct Tracer {
    stage: TraceStage,
    /// Traced when the hash's first 8 bytes are below this.
    below: u64,
    /// `app` and `app/user` entries traced whatever the sample.
    always: Arc<HashSet<String>>,
}

impl Tracer {
    pub fn new(stage: TraceStage, settings: &TraceSettings) -> Self {
        let below = if settings.sample >= 1.0 {
            u64::MAX
        } else {
            (settings.sample.max(0.0) * u64::MAX as f64) as u64
        };
        let always = Arc::new(settings.always.iter().cloned().collect());
        Tracer {
            stage,
            below,
            always,
        }
    }

    /// Whether `about` is flagged: a dry run, or its app or user in `trace.always`.
    fn flagged(&self, about: &About<'_>) -> bool {
        if about.always {
            return true;
        }
        if self.always.is_empty() {
            return false;
        }
        let user = about.user_id.map(|u| format!("{}/{u}", about.app_id));
        self.always.contains(about.app_id) || user.is_some_and(|u| self.always.contains(&u))
    }

    /// Whether this message is traced.
    pub fn traces(&self, app_id: &str, message_id: &str) -> bool {
        if self.below == u64::MAX {
            return true;
        }
        let key = recent::key(&[app_id.as_bytes(), message_id.as_bytes()]);
        let head = u64::from_be_bytes(key[..8].try_into().unwrap_or_default());
        head < self.below
    }

    /// An empty batch of this stage's events.
    pub fn batch(&self) -> TraceBatch {
        TraceBatch {
            tracer: self.clone(),
            events: Vec::new(),
            last_us: 0,
        }
    }
}

/// The events of one batch; [`TraceBatch::output`] makes them one message.
pub struct TraceBatch {
    tracer: Tracer,
    events: Vec<TraceEvent>,
    last_us: u64,
}

/// Which message an event is about, and for whom.
pub struct About<'a> {
    pub app_id: &'a str,
    pub message_id: &'a str,
    pub user_id: Option<&'a str>,
    pub push_id: Option<&'a str>,
    pub vendor: Option<Vendor>,
    /// When ingest accepted the message (µs; 0: not known).
    pub accepted_us: u64,
    /// Traced whatever the sample: a dry run exists to be traced.
    pub always: bool,
}

impl<'a> About<'a> {
    pub fn message(app_id: &'a str, message_id: &'a str) -> Self {
        About {
            app_id,
            message_id,
            user_id: None,
            push_id: None,
            vendor: None,
            accepted_us: 0,
            always: false,
        }
    }

    /// The message was accepted at `accepted_us` (its jobs and pushes carry it).
    pub fn accepted(mut self, accepted_us: u64) -> Self {
        self.accepted_us = accepted_us;
        self
    }

    /// A dry run's events are kept whatever `trace.sample` says.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.always = dry_run;
        self
    }

    pub fn user(mut self, user_id: &'a str) -> Self {
        self.user_id = Some(user_id);
        self
    }
}

impl TraceBatch {
    /// Records `what`, if the message is traced (or `always`: a dry run's).
    pub fn record(&mut self, about: About<'_>, what: TraceWhat) {
        if !self.tracer.flagged(&about) && !self.tracer.traces(about.app_id, about.message_id) {
            return;
        }
        // Strictly increasing, so events recorded in one batch keep their order.
        self.last_us = now_us().max(self.last_us + 1);
        self.events.push(TraceEvent {
            app_id: about.app_id.to_owned(),
            message_id: about.message_id.to_owned(),
            at_us: self.last_us,
            filed_us: match about.accepted_us {
                0 => self.last_us,
                us => us,
            },
            stage: self.tracer.stage,
            user_id: about.user_id.map(str::to_owned),
            push_id: about.push_id.map(str::to_owned),
            vendor: about.vendor,
            what,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The batch's events as one message to the registry's trace queue, if there are any.
    pub fn output(self) -> Option<Outgoing> {
        if self.events.is_empty() {
            return None;
        }
        let body = codec::encode(&Batch { items: self.events });
        Some(Outgoing::to_queue(TRACE_QUEUE, body))
    }
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracer(sample: f64, always: &[&str]) -> Tracer {
        let settings = TraceSettings {
            sample,
            always: always.iter().map(|s| s.to_string()).collect(),
            ..TraceSettings::default()
        };
        Tracer::new(TraceStage::Presence, &settings)
    }

    fn recorded(tracer: &Tracer, about: About<'_>) -> bool {
        let mut batch = tracer.batch();
        batch.record(about, TraceWhat::Offline);
        !batch.is_empty()
    }

    #[test]
    fn a_sample_traces_a_share_and_flags_trace_the_rest() {
        let some = tracer(0.1, &[]);
        let ids: Vec<String> = (0..10_000).map(|i| format!("m{i}")).collect();
        let traced = ids.iter().filter(|m| some.traces("demo", m)).count();
        assert!((800..1200).contains(&traced), "{traced} of 10,000 at 0.1");

        let none = tracer(0.0, &["vip", "demo/bob"]);
        assert!(!recorded(&none, About::message("demo", "m1").user("carol")));
        assert!(recorded(&none, About::message("demo", "m1").user("bob")));
        assert!(recorded(&none, About::message("vip", "m1")));
        assert!(recorded(&none, About::message("demo", "m1").dry_run(true)));
    }
}
