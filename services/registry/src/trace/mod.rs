//! The registry keeps every stage's trace events (`pushmesh.trace`) for `trace.window_s`, in a
//! store of whole-hour tables that expiry drops whole, and answers a message's trace, a user's
//! recent messages and the recent rejected inputs.

pub mod api;
mod handler;

pub use handler::TraceHandler;

use pushmesh_contract::codec;
use pushmesh_contract::trace::{TraceEvent, TraceWhat};
use pushmesh_runtime::recent::{self, RecentError, RecentIds};
use std::path::Path;

const HOUR_MS: u64 = 3_600_000;
/// A message's events: `m`, when it was accepted, hash(app, message id), the event's time and
/// stage. Keys grow with time, so new events are written at the end of the table, where the
/// pages are in memory already; a message's events are next to each other.
const MESSAGE: u8 = b'm';
/// Where a message's events are: `i`, hash(app, message id), when it was accepted (a message id
/// accepted again after the dedup window has two).
const INDEX: u8 = b'i';
/// A user's messages: `u`, hash(app, user), time, then the message id.
const USER: u8 = b'u';
/// Rejected inputs: `r`, time, stage.
/// Every value is a run of events (`Vec<TraceEvent>`, through the stage codec).
const REJECTED: u8 = b'r';

pub struct TraceStore {
    events: RecentIds,
}

/// A user's message, as the user's index has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessage {
    pub at_ms: u64,
    pub message_id: String,
}

impl TraceStore {
    pub fn open(data_dir: &Path, cache_bytes: u64) -> Result<Self, RecentError> {
        let path = data_dir.join("trace.redb");
        let events = RecentIds::open(&path, "trace", HOUR_MS, cache_bytes as usize)?;
        Ok(TraceStore { events })
    }

    /// Files the events; durable at the next [`flush`](Self::flush). A run of events of one
    /// message is one entry. The same events again (a batch delivered again) are kept once.
    pub fn add(&self, events: &[TraceEvent]) {
        let mut entries: Vec<(u64, Vec<u8>, Vec<u8>)> = Vec::new();
        let same = |a: &TraceEvent, b: &TraceEvent| {
            a.filed_us == b.filed_us && a.message_id == b.message_id && a.app_id == b.app_id
        };
        for run in events.chunk_by(same) {
            let first = &run[0];
            let filed_ms = first.filed_us / 1000;
            let tail = [&first.at_us.to_be_bytes()[..], &[first.stage as u8]].concat();
            if let TraceWhat::Rejected { .. } = first.what {
                let key = [&[REJECTED][..], &tail].concat();
                entries.push((filed_ms, key, codec::encode(&run)));
                continue;
            }
            let message = recent::key(&[first.app_id.as_bytes(), first.message_id.as_bytes()]);
            let filed = first.filed_us.to_be_bytes();
            let key = [&[MESSAGE][..], &filed, &message, &tail].concat();
            entries.push((filed_ms, key, codec::encode(&run)));
            let index = [&[INDEX][..], &message[..], &filed[..]].concat();
            if !matches!(self.events.get_at(filed_ms, &index), Ok(Some(_))) {
                entries.push((filed_ms, index, Vec::new()));
            }
            for e in run {
                // A user's index gets the message once, when presence decides for the user.
                if let (Some(user), TraceWhat::Online { .. } | TraceWhat::Offline) =
                    (&e.user_id, &e.what)
                {
                    let at = filed_ms.to_be_bytes();
                    let by_user = key_of(
                        USER,
                        &[&e.app_id, user],
                        &[&at[..], e.message_id.as_bytes()].concat(),
                    );
                    entries.push((filed_ms, by_user, Vec::new()));
                }
            }
        }
        self.events.insert(&entries);
    }

    pub fn flush(&self) -> Result<(), RecentError> {
        self.events.flush()
    }

    /// Drops the hours older than `window_ms` before `now_ms`.
    pub fn prune(&self, now_ms: u64, window_ms: u64) -> Result<usize, RecentError> {
        self.events.drop_before(now_ms.saturating_sub(window_ms))
    }

    /// A message's events, oldest first.
    pub fn message(&self, app_id: &str, message_id: &str) -> Result<Vec<TraceEvent>, RecentError> {
        let message = recent::key(&[app_id.as_bytes(), message_id.as_bytes()]);
        let index = [&[INDEX][..], &message[..]].concat();
        let mut events = Vec::new();
        for (k, _) in self.events.scan_prefix(&index, usize::MAX)? {
            let filed = &k[index.len()..];
            let prefix = [&[MESSAGE][..], filed, &message[..]].concat();
            events.extend(self.decoded(&prefix, usize::MAX)?);
        }
        events.sort_by_key(|e| e.at_us);
        events.dedup();
        Ok(events)
    }

    /// A user's most recent messages, newest first.
    pub fn user_messages(
        &self,
        app_id: &str,
        user_id: &str,
        limit: usize,
    ) -> Result<Vec<UserMessage>, RecentError> {
        let prefix = key_of(USER, &[app_id, user_id], &[]);
        let found = self.events.scan_prefix(&prefix, limit)?;
        Ok(found
            .into_iter()
            .filter_map(|(k, _)| {
                let rest = k.get(prefix.len()..)?;
                let at_ms = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
                let message_id = String::from_utf8(rest[8..].to_vec()).ok()?;
                Some(UserMessage { at_ms, message_id })
            })
            .collect())
    }

    /// The most recent rejected inputs, newest first.
    pub fn rejected(&self, limit: usize) -> Result<Vec<TraceEvent>, RecentError> {
        self.decoded(&[REJECTED], limit)
    }

    fn decoded(&self, prefix: &[u8], limit: usize) -> Result<Vec<TraceEvent>, RecentError> {
        let found = self.events.scan_prefix(prefix, limit)?;
        Ok(found
            .iter()
            .filter_map(|(_, v)| codec::decode::<Vec<TraceEvent>>(v).ok())
            .flatten()
            .collect())
    }
}

/// `kind`, the hash of `parts` (none: nothing), then `tail`.
fn key_of(kind: u8, parts: &[&str], tail: &[u8]) -> Vec<u8> {
    let mut k = vec![kind];
    if !parts.is_empty() {
        let bytes: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
        k.extend_from_slice(&recent::key(&bytes));
    }
    k.extend_from_slice(tail);
    k
}

#[cfg(test)]
mod tests;
