//! What this dispatcher already settled, per (app, message, device), for as long as the push
//! lives: a redelivered push (a crashed upstream stage, or this dispatcher killed before its ack)
//! is not sent to the vendor again; its outcome is published again instead, so nothing that
//! depends on outcomes misses one.

use pushmesh_contract::codec;
use pushmesh_contract::public::OutcomeStatus;
use pushmesh_contract::stage::DevicePush;
use pushmesh_runtime::store;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    pub status: OutcomeStatus,
    pub vendor_message_id: Option<String>,
    pub detail: Option<String>,
    pub expires_at_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SentError {
    #[error(transparent)]
    Open(#[from] store::OpenError),
    #[error("sent-push store failed: {0}")]
    Io(#[from] sled::Error),
}

/// Behind a trait because sled 0.34 calls itself beta.
pub trait SentStore: Send + Sync {
    fn get(&self, push: &DevicePush) -> Result<Option<Settled>, SentError>;
    /// Recorded at once (sled makes it durable within its flush interval, and `flush` forces it).
    fn put(&self, push: &DevicePush, settled: &Settled) -> Result<(), SentError>;
    fn flush(&self) -> Result<(), SentError>;
    /// Forgets pushes that expired before `now_ms`; returns how many.
    fn purge(&self, now_ms: u64) -> Result<usize, SentError>;
    /// Adds up to `n` to counter `key` without going over `limit`; returns how much was added.
    fn take_up_to(&self, key: &str, n: u64, limit: u64) -> Result<u64, SentError>;
}

pub struct SledSent {
    db: sled::Db,
    settled: sled::Tree,
    /// Quota counters, by app and day.
    counters: sled::Tree,
}

/// app, message, device, and the replay count: a replayed push is a new send.
fn key(p: &DevicePush) -> Vec<u8> {
    let replays = p.replays.to_string();
    [
        p.app_id.as_bytes(),
        p.message_id.as_bytes(),
        p.push_id.as_bytes(),
        replays.as_bytes(),
    ]
    .join(&0u8)
}

impl SledSent {
    pub fn open(dir: &Path) -> Result<Self, SentError> {
        let db = store::open(dir, 8 * 1024 * 1024)?;
        Ok(SledSent {
            settled: db.open_tree("settled")?,
            counters: db.open_tree("counters")?,
            db,
        })
    }
}

impl SentStore for SledSent {
    fn get(&self, push: &DevicePush) -> Result<Option<Settled>, SentError> {
        Ok(self
            .settled
            .get(key(push))?
            .and_then(|v| codec::decode(&v).ok()))
    }

    fn put(&self, push: &DevicePush, settled: &Settled) -> Result<(), SentError> {
        self.settled.insert(key(push), codec::encode(settled))?;
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
        let mut n = 0;
        for entry in self.settled.iter() {
            let (k, v) = entry?;
            let expired = codec::decode::<Settled>(&v).map_or(true, |s| s.expires_at_ms < now_ms);
            if expired {
                self.settled.remove(k)?;
                n += 1;
            }
        }
        Ok(n)
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
    fn settled_pushes_survive_a_reopen_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let settled = Settled {
            status: OutcomeStatus::Delivered,
            vendor_message_id: Some("v".into()),
            detail: None,
            expires_at_ms: 100,
        };
        {
            let s = SledSent::open(dir.path()).unwrap();
            s.put(&push("m1", 100), &settled).unwrap();
            s.put(
                &push("m2", 900),
                &Settled {
                    expires_at_ms: 900,
                    ..settled.clone()
                },
            )
            .unwrap();
            s.flush().unwrap();
        }
        let s = SledSent::open(dir.path()).unwrap();
        assert_eq!(s.get(&push("m1", 100)).unwrap(), Some(settled));
        assert_eq!(s.get(&push("m3", 100)).unwrap(), None);
        assert_eq!(s.purge(500).unwrap(), 1);
        assert_eq!(s.get(&push("m1", 100)).unwrap(), None);
        assert!(s.get(&push("m2", 900)).unwrap().is_some());
    }
}
