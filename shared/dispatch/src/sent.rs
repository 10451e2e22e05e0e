//! What this dispatcher already settled, per (app, message, device), for as long as the push
//! lives: a redelivered push (a crashed upstream stage, or this dispatcher killed before its ack)
//! is not sent to the vendor again; its outcome is published again instead, so nothing that
//! depends on outcomes misses one.

use pushmesh_contract::codec;
use pushmesh_contract::public::OutcomeStatus;
use pushmesh_contract::stage::DevicePush;
use pushmesh_runtime::recent::{self, RecentIds};
use pushmesh_runtime::store;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    pub status: OutcomeStatus,
    pub vendor_message_id: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SentError {
    #[error(transparent)]
    Open(#[from] store::OpenError),
    #[error("sent-push store failed: {0}")]
    Io(#[from] sled::Error),
}

/// Behind a trait because sled 0.34 calls itself beta.
pub trait SentStore: Send + Sync + 'static {
    fn get(&self, push: &DevicePush) -> Result<Option<Settled>, SentError>;
    /// Recorded at once (sled makes it durable within its flush interval, and `flush` forces it).
    fn put(&self, push: &DevicePush, settled: &Settled) -> Result<(), SentError>;
    fn flush(&self) -> Result<(), SentError>;
    /// Forgets pushes that expired before `now_ms` (by the hour, so some stay up to an hour
    /// longer); returns how many.
    fn purge(&self, now_ms: u64) -> Result<usize, SentError>;
    /// Adds up to `n` to counter `key` without going over `limit`; returns how much was added.
    fn take_up_to(&self, key: &str, n: u64, limit: u64) -> Result<u64, SentError>;
}

/// How long a settled-push bucket spans: pushes are filed by the hour they expire in.
const BUCKET_MS: u64 = 3_600_000;

/// sled: settled pushes filed by expiry hour (see [`key`]), so a lookup reads one tree and
/// expiry drops whole trees (see [`RecentIds`]).
pub struct SledSent {
    db: sled::Db,
    settled: RecentIds,
    /// Quota counters, by app and day.
    counters: sled::Tree,
}

/// The push's expiry, then a hash of app, message, device and the replay count (a replayed
/// push is a new send). Expiry first keeps writes near the end of the tree, where sled's cache
/// holds them: with the hash alone every write hit a random page, and a million of them left a
/// dispatcher spinning on page reads.
fn key(p: &DevicePush) -> [u8; 24] {
    let mut k = [0; 24];
    k[..8].copy_from_slice(&p.expires_at_ms.to_be_bytes());
    k[8..].copy_from_slice(&recent::key(&[
        p.app_id.as_bytes(),
        p.message_id.as_bytes(),
        p.push_id.as_bytes(),
        &p.replays.to_be_bytes(),
    ]));
    k
}

impl SledSent {
    pub fn open(dir: &Path) -> Result<Self, SentError> {
        let db = store::open(dir, 8 * 1024 * 1024)?;
        // The tree of the format before time buckets (docs/operations.md, Upgrading stored data).
        db.drop_tree("settled")?;
        Ok(SledSent {
            settled: RecentIds::open(&db, "settled", BUCKET_MS)?,
            counters: db.open_tree("counters")?,
            db,
        })
    }
}

impl SentStore for SledSent {
    fn get(&self, push: &DevicePush) -> Result<Option<Settled>, SentError> {
        Ok(self
            .settled
            .get_at(push.expires_at_ms, &key(push))?
            .and_then(|v| codec::decode(&v).ok()))
    }

    fn put(&self, push: &DevicePush, settled: &Settled) -> Result<(), SentError> {
        self.settled
            .insert(push.expires_at_ms, &key(push), &codec::encode(settled))?;
        Ok(())
    }

    fn flush(&self) -> Result<(), SentError> {
        self.db.flush()?;
        Ok(())
    }

    fn take_up_to(&self, key: &str, n: u64, limit: u64) -> Result<u64, SentError> {
        let mut granted = 0;
        self.counters.fetch_and_update(key, |old| {
            let used = old
                .and_then(|v| v.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            granted = n.min(limit.saturating_sub(used));
            Some((used + granted).to_be_bytes().to_vec())
        })?;
        Ok(granted)
    }

    fn purge(&self, now_ms: u64) -> Result<usize, SentError> {
        Ok(self.settled.drop_before(now_ms)?)
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
            let s = SledSent::open(dir.path()).unwrap();
            s.put(&push("m1", early), &settled).unwrap();
            s.put(&push("m2", late), &settled).unwrap();
            s.flush().unwrap();
        }
        let s = SledSent::open(dir.path()).unwrap();
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
        let s = SledSent::open(dir.path()).unwrap();
        let settled = Settled {
            status: OutcomeStatus::Failed,
            vendor_message_id: None,
            detail: Some("retries ran out".into()),
        };
        let first = push("m", 5_000);
        s.put(&first, &settled).unwrap();
        let replayed = DevicePush {
            replays: 1,
            ..first.clone()
        };
        assert!(s.get(&first).unwrap().is_some());
        assert_eq!(s.get(&replayed).unwrap(), None);
    }
}
