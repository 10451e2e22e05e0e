//! What this dispatcher already settled, per (app, message, device), for as long as the push
//! lives: a redelivered push (a crashed upstream stage, or this dispatcher killed before its ack)
//! is not sent to the vendor again; its outcome is published again instead, so nothing that
//! depends on outcomes misses one.

use crate::auth::Credential;
use pushmesh_contract::codec;
use pushmesh_contract::public::OutcomeStatus;
use pushmesh_contract::stage::{CallEnded, DevicePush};
use pushmesh_runtime::recent::{self, RecentError, RecentIds};
use redb::TableDefinition;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    pub status: OutcomeStatus,
    pub vendor_message_id: Option<String>,
    pub detail: Option<String>,
}

/// The store's error names the file and what failed.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SentError(#[from] RecentError);

/// Behind a trait so the engine can change without touching the stage.
pub trait SentStore: Send + Sync + 'static {
    fn get(&self, push: &DevicePush) -> Result<Option<Settled>, SentError>;
    /// Records settled pushes, durable at the next `flush` (and found by `get` at once).
    fn put(&self, settled: &[(DevicePush, Settled)]) -> Result<(), SentError>;
    fn flush(&self) -> Result<(), SentError>;
    /// Forgets pushes that expired before `now_ms` (by the hour, so some stay up to an hour
    /// longer); returns how many.
    fn purge(&self, now_ms: u64) -> Result<usize, SentError>;
    /// Counter `key` (0 if never set): a vendor actor's quota count of a day.
    fn counter(&self, key: &str) -> Result<u64, SentError>;
    /// Sets counter `key`, durable at the next `flush`.
    fn set_counter(&self, key: &str, value: u64) -> Result<(), SentError>;
    /// The credential kept under `key` (one app's, for this dispatcher's vendor), if any.
    fn credential(&self, key: &str) -> Result<Option<Credential>, SentError>;
    /// Keeps `credential` under `key`, durable at once: a restarted dispatcher reuses it
    /// rather than ask for a new one (Apple refuses a provider token renewed within 20 min).
    fn set_credential(&self, key: &str, credential: &Credential) -> Result<(), SentError>;
    /// What is known of the call's end: for whom it ended (all when None), and until when
    /// that matters; None if it has not ended.
    fn ended_call(&self, app_id: &str, call_id: &str) -> Result<Option<CallEnded>, SentError>;
    /// Remembers that a call ended, merged with an earlier end of it; durable at the next
    /// `flush`. Returns what is now known.
    fn end_call(&self, ended: &CallEnded) -> Result<CallEnded, SentError>;
    /// Remembers an invitation the vendor accepted, to withdraw it if the call ends.
    fn put_rung(&self, push: &DevicePush) -> Result<(), SentError>;
    /// The call's invitations the vendor accepted.
    fn rung(&self, app_id: &str, call_id: &str) -> Result<Vec<DevicePush>, SentError>;
}

/// How long a settled-push bucket spans: pushes are filed by the hour they expire in.
const BUCKET_MS: u64 = 3_600_000;

/// The page cache: lookups are of pushes settled moments ago, whose pages are still here.
const CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Quota counters, by app and day, beside the buckets.
const COUNTERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("counters");
/// Credentials, by app and settings: until when each may be used, then the token.
const CREDENTIALS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("credentials");

mod calls;

/// Settled pushes filed by expiry hour in `<data_dir>/<service>.redb` (see [`RecentIds`]), so a
/// lookup reads one table and expiry deletes whole tables; the quota counters beside them.
pub struct DiskSent {
    settled: RecentIds,
}

/// The push's expiry, then a hash of app, message, device, the replay count (a replayed push is
/// a new send) and, for a call, which of its pushes. Expiry first keeps writes near the end of
/// the table, where the cache holds them, rather than on a random page each.
fn key(p: &DevicePush) -> [u8; 24] {
    let mut k = [0; 24];
    k[..8].copy_from_slice(&p.expires_at_ms.to_be_bytes());
    k[8..].copy_from_slice(&recent::key(&[
        p.app_id.as_bytes(),
        p.message_id.as_bytes(),
        p.push_id.as_bytes(),
        &p.replays.to_be_bytes(),
        p.call_event().map_or("", |e| e.as_str()).as_bytes(),
    ]));
    k
}

impl DiskSent {
    /// Opens `<data_dir>/<service>.redb`.
    pub fn open(data_dir: &Path, service: &str) -> Result<Self, SentError> {
        let settled = RecentIds::open(
            &data_dir.join(format!("{service}.redb")),
            "settled",
            BUCKET_MS,
            CACHE_BYTES,
        )?;
        Ok(DiskSent { settled })
    }
}

impl SentStore for DiskSent {
    fn get(&self, push: &DevicePush) -> Result<Option<Settled>, SentError> {
        Ok(self
            .settled
            .get_at(push.expires_at_ms, &key(push))?
            .and_then(|v| codec::decode(&v).ok()))
    }

    fn put(&self, settled: &[(DevicePush, Settled)]) -> Result<(), SentError> {
        let entries: Vec<_> = settled
            .iter()
            .map(|(p, s)| (p.expires_at_ms, key(p), codec::encode(s)))
            .collect();
        self.settled.insert(&entries);
        Ok(())
    }

    fn flush(&self) -> Result<(), SentError> {
        self.settled.flush()?;
        Ok(())
    }

    fn counter(&self, key: &str) -> Result<u64, SentError> {
        let used = self.settled.read("read a counter", |read| {
            let counters = match read.open_table(COUNTERS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
                Err(e) => return Err(e.into()),
            };
            Ok(counters
                .get(key.as_bytes())?
                .map_or(0, |v| recent::be_u64(v.value())))
        })?;
        Ok(used)
    }

    fn set_counter(&self, key: &str, value: u64) -> Result<(), SentError> {
        self.settled.write_unsynced("count quota", |write| {
            let mut counters = write.open_table(COUNTERS)?;
            counters.insert(key.as_bytes(), &value.to_be_bytes()[..])?;
            Ok(())
        })?;
        Ok(())
    }

    fn credential(&self, key: &str) -> Result<Option<Credential>, SentError> {
        let found = self.settled.read("read a credential", |read| {
            let table = match read.open_table(CREDENTIALS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            Ok(table.get(key.as_bytes())?.map(|v| v.value().to_vec()))
        })?;
        Ok(found.filter(|v| v.len() > 8).map(|v| Credential {
            use_until_ms: recent::be_u64(&v[..8]),
            token: String::from_utf8_lossy(&v[8..]).into_owned(),
        }))
    }

    fn set_credential(&self, key: &str, credential: &Credential) -> Result<(), SentError> {
        let mut value = credential.use_until_ms.to_be_bytes().to_vec();
        value.extend_from_slice(credential.token.as_bytes());
        self.settled.write_unsynced("keep a credential", |write| {
            let mut table = write.open_table(CREDENTIALS)?;
            table.insert(key.as_bytes(), value.as_slice())?;
            Ok(())
        })?;
        self.flush()
    }

    fn purge(&self, now_ms: u64) -> Result<usize, SentError> {
        let calls = self.purge_calls(now_ms)?;
        Ok(self.settled.drop_before(now_ms)? + calls)
    }

    fn ended_call(&self, app_id: &str, call_id: &str) -> Result<Option<CallEnded>, SentError> {
        self.ended_call_in(app_id, call_id)
    }

    fn end_call(&self, ended: &CallEnded) -> Result<CallEnded, SentError> {
        self.end_call_in(ended)
    }

    fn put_rung(&self, push: &DevicePush) -> Result<(), SentError> {
        self.put_rung_in(push)
    }

    fn rung(&self, app_id: &str, call_id: &str) -> Result<Vec<DevicePush>, SentError> {
        self.rung_in(app_id, call_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushmesh_contract::stage::Notification;
    use pushmesh_contract::Vendor;

    fn push(message: &str, expires: u64) -> DevicePush {
        DevicePush {
            app_id: "a".into(),
            message_id: message.into(),
            user_id: "u".into(),
            push_id: "p".into(),
            vendor: Vendor::Fcm,
            token: "t".into(),
            token_gen: 1,
            package: None,
            notification: Notification {
                title: "t".into(),
                content: "c".into(),
                payload: None,
                resources_id: None,
            },
            expires_at_ms: expires,
            attempt: 0,
            not_before_ms: 0,
            replays: 0,
            call: None,
            voip: false,
            accepted_us: 0,
            dry_run: false,
        }
    }

    #[test]
    fn settled_pushes_survive_a_reopen_until_their_hour_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        let settled = Settled {
            status: OutcomeStatus::Delivered,
            vendor_message_id: Some("v".into()),
            detail: None,
        };
        let (early, late) = (BUCKET_MS + 100, 3 * BUCKET_MS + 900);
        {
            let s = DiskSent::open(dir.path(), "dispatch-fcm").unwrap();
            s.put(&[
                (push("m1", early), settled.clone()),
                (push("m2", late), settled.clone()),
            ])
            .unwrap();
            s.flush().unwrap();
        }
        let s = DiskSent::open(dir.path(), "dispatch-fcm").unwrap();
        assert_eq!(s.get(&push("m1", early)).unwrap(), Some(settled));
        assert_eq!(s.get(&push("m3", early)).unwrap(), None);
        assert_eq!(s.purge(early + 1).unwrap(), 0, "its hour has not passed");
        assert_eq!(s.purge(2 * BUCKET_MS).unwrap(), 1);
        assert_eq!(s.get(&push("m1", early)).unwrap(), None);
        assert!(s.get(&push("m2", late)).unwrap().is_some());
    }

    #[test]
    fn a_replay_is_a_new_send() {
        let dir = tempfile::tempdir().unwrap();
        let s = DiskSent::open(dir.path(), "dispatch-fcm").unwrap();
        let settled = Settled {
            status: OutcomeStatus::Failed,
            vendor_message_id: None,
            detail: Some("retries ran out".into()),
        };
        let first = push("m", 5_000);
        s.put(&[(first.clone(), settled)]).unwrap();
        let replayed = DevicePush {
            replays: 1,
            ..first.clone()
        };
        assert!(s.get(&first).unwrap().is_some());
        assert_eq!(s.get(&replayed).unwrap(), None);
    }
}
