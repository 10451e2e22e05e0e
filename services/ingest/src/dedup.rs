//! Which message ids ingest has already passed on, within the dedup window.

use pushmesh_runtime::recent::{self, RecentError, RecentIds};
use std::path::Path;

/// The store's error names the file and what failed.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DedupError(#[from] RecentError);

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

/// The page cache: a lookup of a recent id finds its pages here, older ones come from the file.
const CACHE_BYTES: usize = 8 * 1024 * 1024;

/// One table per eighth of the dedup window in `<data_dir>/ingest.redb`: a lookup reads at
/// most nine small tables and purging deletes whole tables. The value is the time recorded,
/// so the window is exact.
pub struct DiskDedup {
    seen: RecentIds,
}

impl DiskDedup {
    /// Opens `<data_dir>/ingest.redb`, importing (then removing) the sled folder
    /// `<data_dir>/ingest` an older build kept (docs/operations.md, Upgrading stored data).
    pub fn open(data_dir: &Path, window_ms: u64) -> Result<Self, DedupError> {
        let seen = RecentIds::open(
            &data_dir.join("ingest.redb"),
            "seen",
            window_ms / 8,
            CACHE_BYTES,
        )?;
        let imported = seen.import_sled(&data_dir.join("ingest"), &[])?;
        if imported > 0 {
            tracing::info!(imported, "entries imported from the older sled store");
        }
        Ok(DiskDedup { seen })
    }
}

impl DedupStore for DiskDedup {
    fn seen_since(&self, key: &DedupKey, since_ms: u64) -> Result<bool, DedupError> {
        Ok(match self.seen.get_since(since_ms, key)? {
            Some(at) => recent::be_u64(&at) >= since_ms,
            None => false,
        })
    }

    fn record(&self, keys: &[DedupKey], at_ms: u64) -> Result<(), DedupError> {
        if keys.is_empty() {
            return Ok(());
        }
        let at = at_ms.to_be_bytes();
        let entries: Vec<_> = keys.iter().map(|k| (at_ms, k, at)).collect();
        self.seen.insert(&entries);
        self.seen.flush()?;
        Ok(())
    }

    fn purge(&self, before_ms: u64) -> Result<usize, DedupError> {
        let purged = self.seen.drop_before(before_ms)?;
        // Deleted tables' pages are reused only once the deletion is durable.
        self.seen.flush()?;
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_purge_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            recent::key(&[b"a"]),
            recent::key(&[b"b"]),
            recent::key(&[b"c"]),
        );
        {
            let s = DiskDedup::open(dir.path(), 8_000).unwrap();
            s.record(&[a], 1_000).unwrap();
            s.record(&[b], 5_000).unwrap();
            assert!(!s.seen_since(&c, 0).unwrap());
        }
        let s = DiskDedup::open(dir.path(), 8_000).unwrap();
        assert!(s.seen_since(&a, 500).unwrap());
        assert!(!s.seen_since(&a, 1_001).unwrap(), "outside the window");
        assert_eq!(s.purge(2_000).unwrap(), 1);
        assert!(!s.seen_since(&a, 0).unwrap());
        assert!(s.seen_since(&b, 0).unwrap());
    }
}
