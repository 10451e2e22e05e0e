//! Short-lived ids on disk, in memory that does not grow with them: ingest's seen message ids
//! and a dispatcher's settled pushes. Each lives a bounded time, so entries go into one table
//! per time bucket and expiry deletes whole tables: no index by time, no scan. Keys are a
//! 16-byte hash of the id (see [`key`]), whatever the id's length.
//!
//! redb, not sled (which keeps the registry): sled's resident memory grew 13-24 bytes for every
//! id it held, whatever its cache, so a dispatcher grew with every push it settled; redb's stays
//! within its cache (docs/benchmarks.md, change 9). Writes commit without an fsync; [`flush`]
//! makes everything before it durable, and callers flush before they ack.
//!
//! [`flush`]: RecentIds::flush

mod import;

use redb::{
    Database, Durability, ReadableDatabase, ReadableTableMetadata, TableDefinition, TableHandle,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

/// The stored form of an id: the first 16 bytes of SHA-256 over its parts, each length-prefixed
/// (so `("ab", "c")` and `("a", "bc")` differ). Stable across builds and releases, unlike std's
/// hasher, because it outlives the process. 128 bits make a collision, which would drop a
/// message, as likely as never.
pub fn key(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut k = [0; 16];
    k.copy_from_slice(&digest[..16]);
    k
}

#[derive(Debug, thiserror::Error)]
pub enum RecentError {
    #[error("cannot open store at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: redb::Error,
    },
    #[error("cannot import the older store at {path}: {source}")]
    Import {
        path: String,
        #[source]
        source: sled::Error,
    },
    #[error(transparent)]
    Store(#[from] redb::Error),
}

/// Bytes to bytes: every table here is one of these.
type Table<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

/// Entries in tables named `<name>/<bucket>`, where bucket = time / `bucket_ms`. Which time an
/// entry is filed under is the caller's choice (when it was seen, when it expires); lookups name
/// the time or the range of times to search.
pub struct RecentIds {
    db: Database,
    name: &'static str,
    bucket_ms: u64,
    buckets: Mutex<BTreeSet<u64>>,
}

impl RecentIds {
    /// Opens (or creates) the file at `path` with a page cache of `cache_bytes`, and the
    /// buckets already in it under `name`. A file left by a crash is repaired first (tens of
    /// milliseconds for a hundred megabytes).
    pub fn open(
        path: &Path,
        name: &'static str,
        bucket_ms: u64,
        cache_bytes: usize,
    ) -> Result<Self, RecentError> {
        let open_error = |e: redb::Error| RecentError::Open {
            path: path.display().to_string(),
            source: e,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| open_error(redb::Error::Io(e)))?;
        }
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| open_error(e.into()))?;
        let ids = RecentIds {
            db,
            name,
            bucket_ms: bucket_ms.max(1),
            buckets: Mutex::new(BTreeSet::new()),
        };
        let found = ids.buckets_on_disk().map_err(open_error)?;
        *ids.lock() = found;
        Ok(ids)
    }

    fn buckets_on_disk(&self) -> Result<BTreeSet<u64>, redb::Error> {
        let prefix = format!("{}/", self.name);
        let read = self.db.begin_read()?;
        let found = read
            .list_tables()?
            .filter_map(|t| t.name().strip_prefix(&prefix)?.parse().ok())
            .collect();
        Ok(found)
    }

    /// The database, for a caller's own small tables beside the buckets (a dispatcher's quota
    /// counters); they are flushed with everything else.
    pub fn database(&self) -> &Database {
        &self.db
    }

    fn bucket(&self, at_ms: u64) -> u64 {
        at_ms / self.bucket_ms
    }

    fn table_name(&self, bucket: u64) -> String {
        format!("{}/{bucket}", self.name)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
        // The set only mirrors the tables on disk; a panic elsewhere cannot leave it half-changed.
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Files each `(at_ms, key, value)` under its time, in one transaction, not yet durable.
    pub fn insert<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        entries: &[(u64, K, V)],
    ) -> Result<(), RecentError> {
        if entries.is_empty() {
            return Ok(());
        }
        let write = begin_write(&self.db)?;
        let mut new = BTreeSet::new();
        for (at_ms, key, value) in entries {
            let bucket = self.bucket(*at_ms);
            let name = self.table_name(bucket);
            let mut table = write
                .open_table(Table::new(&name))
                .map_err(redb::Error::from)?;
            table
                .insert(key.as_ref(), value.as_ref())
                .map_err(redb::Error::from)?;
            new.insert(bucket);
        }
        write.commit().map_err(redb::Error::from)?;
        self.lock().extend(new);
        Ok(())
    }

    /// The value filed under exactly the bucket of `at_ms`.
    pub fn get_at(&self, at_ms: u64, key: &[u8]) -> Result<Option<Vec<u8>>, RecentError> {
        let bucket = self.bucket(at_ms);
        if !self.lock().contains(&bucket) {
            return Ok(None);
        }
        self.get_in(&[bucket], key)
    }

    /// The newest value filed at or after `since_ms`'s bucket.
    pub fn get_since(&self, since_ms: u64, key: &[u8]) -> Result<Option<Vec<u8>>, RecentError> {
        let buckets: Vec<u64> = self
            .lock()
            .range(self.bucket(since_ms)..)
            .rev()
            .copied()
            .collect();
        self.get_in(&buckets, key)
    }

    /// The first of `buckets` that holds `key`, in one read transaction.
    fn get_in(&self, buckets: &[u64], key: &[u8]) -> Result<Option<Vec<u8>>, RecentError> {
        if buckets.is_empty() {
            return Ok(None);
        }
        let read = self.db.begin_read().map_err(redb::Error::from)?;
        for bucket in buckets {
            let name = self.table_name(*bucket);
            let table = match read.open_table(Table::new(&name)) {
                Ok(t) => t,
                // Deleted by a purge since the bucket set was read.
                Err(redb::TableError::TableDoesNotExist(_)) => continue,
                Err(e) => return Err(redb::Error::from(e).into()),
            };
            if let Some(v) = table.get(key).map_err(redb::Error::from)? {
                return Ok(Some(v.value().to_vec()));
            }
        }
        Ok(None)
    }

    /// Deletes every bucket that ends at or before `before_ms` (not yet durable); returns how
    /// many entries went.
    pub fn drop_before(&self, before_ms: u64) -> Result<usize, RecentError> {
        let first_kept = self.bucket(before_ms);
        let old: Vec<u64> = self.lock().range(..first_kept).copied().collect();
        if old.is_empty() {
            return Ok(0);
        }
        let write = begin_write(&self.db)?;
        let mut dropped = 0;
        for bucket in &old {
            let name = self.table_name(*bucket);
            if let Ok(t) = write.open_table(Table::new(&name)) {
                dropped += t.len().map_err(redb::Error::from)? as usize;
            }
            write
                .delete_table(Table::new(&name))
                .map_err(redb::Error::from)?;
        }
        write.commit().map_err(redb::Error::from)?;
        let mut buckets = self.lock();
        for bucket in old {
            buckets.remove(&bucket);
        }
        Ok(dropped)
    }

    /// Makes every write before it durable (an fsync).
    pub fn flush(&self) -> Result<(), RecentError> {
        let mut write = self.db.begin_write().map_err(redb::Error::from)?;
        write
            .set_durability(Durability::Immediate)
            .map_err(redb::Error::from)?;
        write.commit().map_err(redb::Error::from)?;
        Ok(())
    }

    /// Buckets on disk (for tests and metrics).
    pub fn buckets(&self) -> usize {
        self.lock().len()
    }
}

/// A write transaction committed without an fsync: [`RecentIds::flush`] makes it durable.
pub fn begin_write(db: &Database) -> Result<redb::WriteTransaction, RecentError> {
    let mut write = db.begin_write().map_err(redb::Error::from)?;
    write
        .set_durability(Durability::None)
        .map_err(redb::Error::from)?;
    Ok(write)
}

#[cfg(test)]
mod tests;
