//! Which message ids ingest has already passed on, within the dedup window.

mod build;
mod filters;

use filters::{hash_of, Filters};
use pushmesh_runtime::recent::{self, RecentError, RecentIds};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use filters::FilterStats;

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
    /// What was last filed for the call `key` at or after `since_ms` (see `calls`).
    fn call(&self, key: &DedupKey, since_ms: u64) -> Result<Option<Vec<u8>>, DedupError>;
    /// Files what ingest knows of a call; found at once, durable with the next `record`.
    fn put_call(&self, key: &DedupKey, value: Vec<u8>, at_ms: u64);
}

/// The page cache: a lookup of a recent id finds its pages here, older ones come from the file.
const CACHE_BYTES: usize = 8 * 1024 * 1024;

/// One table per eighth of the dedup window in `<data_dir>/ingest.redb`: purging deletes
/// whole tables, and a lookup reads only the tables whose filter in memory does not rule the
/// id out, or that have none yet (see [`filters`]). The value is the time recorded, so the
/// window is exact.
pub struct DiskDedup {
    // Dropped first: its thread reads the file.
    filters: Filters,
    seen: Arc<RecentIds>,
    /// A call was filed since the last flush.
    calls_filed: AtomicBool,
}

impl DiskDedup {
    /// Opens `<data_dir>/ingest.redb`.
    pub fn open(data_dir: &Path, window_ms: u64) -> Result<Self, DedupError> {
        let seen = RecentIds::open(
            &data_dir.join("ingest.redb"),
            "seen",
            window_ms / 8,
            CACHE_BYTES,
        )?;
        let seen = Arc::new(seen);
        Ok(DiskDedup {
            filters: Filters::start(seen.clone()),
            seen,
            calls_filed: AtomicBool::new(false),
        })
    }

    /// The filters in memory: how many are ready or still being built, and their size.
    pub fn filter_stats(&self) -> FilterStats {
        self.filters.stats()
    }
}

impl DedupStore for DiskDedup {
    fn seen_since(&self, key: &DedupKey, since_ms: u64) -> Result<bool, DedupError> {
        let hash = hash_of(key);
        let may_hold = |bucket| self.filters.may_hold(bucket, hash);
        Ok(match self.seen.get_since_where(since_ms, key, may_hold)? {
            Some(at) => recent::be_u64(&at) >= since_ms,
            None => false,
        })
    }

    fn record(&self, keys: &[DedupKey], at_ms: u64) -> Result<(), DedupError> {
        if keys.is_empty() {
            if self.calls_filed.swap(false, Ordering::SeqCst) {
                self.seen.flush()?;
            }
            return Ok(());
        }
        self.calls_filed.store(false, Ordering::SeqCst);
        let bucket = self.seen.bucket_of(at_ms);
        let hashes: Vec<u64> = keys.iter().map(|k| hash_of(k)).collect();
        self.filters.advance_to(bucket);
        let recording = self.filters.note(bucket, &hashes);
        let at = at_ms.to_be_bytes();
        let entries: Vec<_> = keys.iter().map(|k| (at_ms, k, at)).collect();
        self.seen.insert(&entries);
        self.seen.flush()?;
        drop(recording);
        Ok(())
    }

    fn call(&self, key: &DedupKey, since_ms: u64) -> Result<Option<Vec<u8>>, DedupError> {
        Ok(self.seen.get_since(since_ms, key)?)
    }

    fn put_call(&self, key: &DedupKey, value: Vec<u8>, at_ms: u64) {
        self.seen.insert(&[(at_ms, key, value)]);
        self.calls_filed.store(true, Ordering::SeqCst);
    }

    fn purge(&self, before_ms: u64) -> Result<usize, DedupError> {
        let purged = self.seen.drop_before(before_ms)?;
        self.filters.drop_before(self.seen.bucket_of(before_ms));
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

    fn keys(kind: &str, n: u64) -> Vec<DedupKey> {
        (0..n)
            .map(|i| recent::key(&[kind.as_bytes(), &i.to_be_bytes()]))
            .collect()
    }

    fn wait_for_filters(s: &DiskDedup, ready: usize) -> FilterStats {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let stats = s.filter_stats();
            if stats.ready == ready && stats.building == 0 {
                return stats;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "filters stuck at {stats:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn every_bucket_gets_a_filter_that_finds_every_recorded_id() {
        let dir = tempfile::tempdir().unwrap();
        let old = keys("old", 5_000);
        {
            // Buckets of 1 s: ids in buckets 1 and 2, then one in 3.
            let s = DiskDedup::open(dir.path(), 8_000).unwrap();
            s.record(&old[..2_500], 1_000).unwrap();
            s.record(&old[2_500..], 2_000).unwrap();
            s.record(&keys("now", 1), 3_000).unwrap();
            // Each bucket got one as records reached it; buckets 1 and 2, sized for 100,000,
            // are being built again to their 2,500 (their first filters serve meanwhile).
            let stats = s.filter_stats();
            assert_eq!(stats.ready + stats.building, 3, "{stats:?}");
            wait_for_filters(&s, 3);
            assert!(old.iter().all(|k| s.seen_since(k, 0).unwrap()));
        }
        // Reopened: every bucket's is built again from the file.
        let s = DiskDedup::open(dir.path(), 8_000).unwrap();
        let stats = wait_for_filters(&s, 3);
        assert!(
            stats.bytes > 5_000 / 8 * 9,
            "about 10 bits per id: {stats:?}"
        );
        assert!(old.iter().all(|k| s.seen_since(k, 0).unwrap()));
        assert!(keys("new", 1_000)
            .iter()
            .all(|k| !s.seen_since(k, 0).unwrap()));
        s.purge(2_000).unwrap();
        assert_eq!(
            s.filter_stats().ready,
            2,
            "the purged bucket's filter went with it"
        );
    }

    #[test]
    fn a_filter_that_took_more_than_it_was_sized_for_is_rebuilt_once_records_move_on() {
        let dir = tempfile::tempdir().unwrap();
        let s = DiskDedup::open(dir.path(), 8_000).unwrap();
        let old = keys("old", 300_000);
        for chunk in old.chunks(10_000) {
            s.record(chunk, 1_000).unwrap();
        }
        let outgrown = s.filter_stats().bytes;
        s.record(&keys("now", 1), 2_000).unwrap();
        let stats = wait_for_filters(&s, 2);
        // Sized for 100,000 at first; now for 300,000 (and bucket 2's for 450,000).
        assert!(stats.bytes > outgrown * 3, "{outgrown} then {stats:?}");
        assert!(old.iter().all(|k| s.seen_since(k, 0).unwrap()));
    }

    #[test]
    fn ids_recorded_to_a_bucket_while_its_filter_is_built_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(DiskDedup::open(dir.path(), 8_000).unwrap());
        // Past the first filter's size, so it is rebuilt once records move on.
        for chunk in keys("old", 200_000).chunks(10_000) {
            s.record(chunk, 1_000).unwrap();
        }
        // Late records to bucket 1 (a batch stamped before the bucket ended) race its build.
        let late = keys("late", 4_000);
        let recorder = {
            let (s, late) = (s.clone(), late.clone());
            std::thread::spawn(move || {
                for chunk in late.chunks(10) {
                    s.record(chunk, 1_500).unwrap();
                }
            })
        };
        s.record(&keys("now", 1), 3_000).unwrap();
        recorder.join().unwrap();
        wait_for_filters(&s, 2);
        let missed = late.iter().filter(|k| !s.seen_since(k, 0).unwrap()).count();
        assert_eq!(missed, 0, "late ids the filter lacks");
    }
}
