//! Which message ids ingest has already passed on, within the dedup window.

use pushmesh_runtime::recent::RecentIds;
use pushmesh_runtime::store;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error(transparent)]
    Open(#[from] store::OpenError),
    #[error("dedup store failed: {0}")]
    Io(#[from] sled::Error),
}

/// A message's key: a hash of (app id, message id); see [`pushmesh_runtime::recent::key`].
pub type DedupKey = [u8; 16];

/// Seen message ids. Ingest asks before passing a message on, and records it only once the
/// message's outputs are confirmed, so a crash in between repeats a push rather than losing it.
pub trait DedupStore: Send + Sync + 'static {
    /// Was `key` recorded at or after `since_ms`?
    fn seen_since(&self, key: &DedupKey, since_ms: u64) -> Result<bool, DedupError>;
    /// Records `keys` as seen at `at_ms`, durably, before returning.
    fn record(&self, keys: &[DedupKey], at_ms: u64) -> Result<(), DedupError>;
    /// Forgets what was recorded before `before_ms` (whole buckets, so some of it may stay a
    /// little longer); returns how many.
    fn purge(&self, before_ms: u64) -> Result<usize, DedupError>;
}

/// sled, one tree per eighth of the dedup window: a lookup reads at most nine small trees and
/// purging drops whole trees. The value is the time recorded, so the window is exact.
pub struct SledDedup {
    db: sled::Db,
    seen: RecentIds,
}

impl SledDedup {
    pub fn open(dir: &Path, window_ms: u64) -> Result<Self, DedupError> {
        let db = store::open(dir, 8 * 1024 * 1024)?;
        // Trees of the format before time buckets (docs/operations.md, Upgrading stored data).
        for old in ["seen", "by_time"] {
            db.drop_tree(old)?;
        }
        Ok(SledDedup {
            seen: RecentIds::open(&db, "seen", window_ms / 8)?,
            db,
        })
    }
}

impl DedupStore for SledDedup {
    fn seen_since(&self, key: &DedupKey, since_ms: u64) -> Result<bool, DedupError> {
        Ok(match self.seen.get_since(since_ms, key)? {
            Some(at) => u64::from_be_bytes(at.as_ref().try_into().unwrap_or([0; 8])) >= since_ms,
            None => false,
        })
    }

    fn record(&self, keys: &[DedupKey], at_ms: u64) -> Result<(), DedupError> {
        if keys.is_empty() {
            return Ok(());
        }
        for key in keys {
            self.seen.insert(at_ms, key, &at_ms.to_be_bytes())?;
        }
        self.db.flush()?;
        Ok(())
    }

    fn purge(&self, before_ms: u64) -> Result<usize, DedupError> {
        Ok(self.seen.drop_before(before_ms)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushmesh_runtime::recent;

    #[test]
    fn records_survive_reopen_and_purge_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            recent::key(&[b"a"]),
            recent::key(&[b"b"]),
            recent::key(&[b"c"]),
        );
        {
            let s = SledDedup::open(dir.path(), 8_000).unwrap();
            s.record(&[a], 1_000).unwrap();
            s.record(&[b], 5_000).unwrap();
            assert!(!s.seen_since(&c, 0).unwrap());
        }
        let s = SledDedup::open(dir.path(), 8_000).unwrap();
        assert!(s.seen_since(&a, 500).unwrap());
        assert!(!s.seen_since(&a, 1_001).unwrap(), "outside the window");
        assert_eq!(s.purge(2_000).unwrap(), 1);
        assert!(!s.seen_since(&a, 0).unwrap());
        assert!(s.seen_since(&b, 0).unwrap());
    }
}
