//! Which message ids ingest has already passed on, within the dedup window.

use pushmesh_runtime::store;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error(transparent)]
    Open(#[from] store::OpenError),
    #[error("dedup store failed: {0}")]
    Io(#[from] sled::Error),
}

/// Seen message ids. Ingest asks before passing a message on, and records it only once the
/// message's outputs are confirmed, so a crash in between repeats a push rather than losing it.
pub trait DedupStore {
    /// Was `key` recorded at or after `since_ms`?
    fn seen_since(&self, key: &[u8], since_ms: u64) -> Result<bool, DedupError>;
    /// Records `keys` as seen at `at_ms`, durably, before returning.
    fn record(&self, keys: &[Vec<u8>], at_ms: u64) -> Result<(), DedupError>;
    /// Forgets what was recorded before `before_ms`; returns how many.
    fn purge(&self, before_ms: u64) -> Result<usize, DedupError>;
}

/// sled: `seen` maps key to the time it was recorded; `by_time` orders the same entries by time
/// so that purging the window's tail is a range scan, not a full one.
pub struct SledDedup {
    db: sled::Db,
    seen: sled::Tree,
    by_time: sled::Tree,
}

impl SledDedup {
    pub fn open(dir: &Path) -> Result<Self, DedupError> {
        let db = store::open(dir, 8 * 1024 * 1024)?;
        Ok(SledDedup {
            seen: db.open_tree("seen")?,
            by_time: db.open_tree("by_time")?,
            db,
        })
    }
}

fn time_key(at_ms: u64, key: &[u8]) -> Vec<u8> {
    let mut k = at_ms.to_be_bytes().to_vec();
    k.extend_from_slice(key);
    k
}

impl DedupStore for SledDedup {
    fn seen_since(&self, key: &[u8], since_ms: u64) -> Result<bool, DedupError> {
        Ok(match self.seen.get(key)? {
            Some(at) => u64::from_be_bytes(at.as_ref().try_into().unwrap_or([0; 8])) >= since_ms,
            None => false,
        })
    }

    fn record(&self, keys: &[Vec<u8>], at_ms: u64) -> Result<(), DedupError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut seen = sled::Batch::default();
        let mut by_time = sled::Batch::default();
        for key in keys {
            seen.insert(key.as_slice(), &at_ms.to_be_bytes());
            by_time.insert(time_key(at_ms, key), &[]);
        }
        // by_time first: an entry there without one in `seen` is harmless to purge.
        self.by_time.apply_batch(by_time)?;
        self.seen.apply_batch(seen)?;
        self.db.flush()?;
        Ok(())
    }

    fn purge(&self, before_ms: u64) -> Result<usize, DedupError> {
        let mut n = 0;
        for entry in self.by_time.range(..before_ms.to_be_bytes().to_vec()) {
            let (tk, _) = entry?;
            let key = &tk[8..];
            // Only drop `seen` if it was not recorded again later.
            if let Some(at) = self.seen.get(key)? {
                if at.as_ref() <= &tk[..8] {
                    self.seen.remove(key)?;
                }
            }
            self.by_time.remove(&tk)?;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_purge_by_age() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SledDedup::open(dir.path()).unwrap();
            s.record(&[b"a".to_vec()], 1_000).unwrap();
            s.record(&[b"b".to_vec()], 5_000).unwrap();
            assert!(!s.seen_since(b"c", 0).unwrap());
        }
        let s = SledDedup::open(dir.path()).unwrap();
        assert!(s.seen_since(b"a", 500).unwrap());
        assert!(!s.seen_since(b"a", 2_000).unwrap(), "outside the window");
        assert_eq!(s.purge(2_000).unwrap(), 1);
        assert!(!s.seen_since(b"a", 0).unwrap());
        assert!(s.seen_since(b"b", 0).unwrap());
    }
}
