//! Short-lived ids on disk, in memory that does not grow with them: ingest's seen message ids
//! and a dispatcher's settled pushes. Each lives a bounded time, so entries go into one table
//! per time bucket and expiry deletes whole tables: no index by time, no scan. Keys are a
//! 16-byte hash of the id (see [`key`]), whatever the id's length.
//!
//! In redb, whose resident memory stays within its cache however many ids it holds.
//!
//! Inserts wait in memory until [`RecentIds::flush`] writes them in one transaction with one
//! fsync: callers flush before they ack, and no insert waits for another's fsync. After an I/O
//! error redb refuses every later write until the file is reopened, so the store reopens it
//! (repairing it) and the failed call reports the error: the caller's batch is redelivered.

mod lookup;
mod pending;

use pending::{Entries, Pending};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTableMetadata, TableDefinition, TableHandle,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};

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

/// A stored big-endian u64 (a time, a count); 0 if the bytes are not one.
pub fn be_u64(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum RecentError {
    // The cause is in the message, not a `source`, so a chain printed whole says it once.
    #[error("cannot open store at {path}: {cause}")]
    Open {
        path: String,
        cause: Box<redb::Error>,
    },
    #[error("writes to store {path} since its last flush were lost to an I/O error (the file was reopened)")]
    Lost { path: String },
    #[error("cannot {op} in store {path}: {cause}")]
    Store {
        op: &'static str,
        path: String,
        cause: Box<redb::Error>,
    },
}

/// Bytes to bytes: every table here is one of these.
type Table<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;
type ReadTable = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

/// Entries in tables named `<name>/<bucket>`, where bucket = time / `bucket_ms`. Which time an
/// entry is filed under is the caller's choice (when it was seen, when it expires); lookups name
/// the time or the range of times to search.
pub struct RecentIds {
    path: PathBuf,
    cache_bytes: usize,
    /// `None` only between closing the file after an I/O error and reopening it.
    db: RwLock<Option<Database>>,
    name: &'static str,
    bucket_ms: u64,
    /// The bucket tables on disk; changed only while holding redb's single writer, so it
    /// agrees with the file whatever the order of concurrent flushes and purges.
    buckets: Mutex<BTreeSet<u64>>,
    pending: Mutex<Pending>,
    /// A commit without fsync (a purge, a caller's write) since the last flush.
    unsynced: AtomicBool,
    /// Such commits were lost to a reopen: the next flush fails, so no ack follows them.
    lost: AtomicBool,
    /// Bumped by each reopen, so threads that failed on the same file reopen it once.
    generation: AtomicU64,
    /// Flushes and purges take turns whole, restoring a failed batch included.
    flush_turn: Mutex<()>,
}

impl RecentIds {
    /// Opens (or creates, with its folder) the file at `path` with a page cache of
    /// `cache_bytes`, and the buckets already in it under `name`. A file left by a crash is
    /// repaired first (57 ms for a 107 MB file here).
    pub fn open(
        path: &Path,
        name: &'static str,
        bucket_ms: u64,
        cache_bytes: usize,
    ) -> Result<Self, RecentError> {
        let db = open_db(path, cache_bytes)?;
        let ids = RecentIds {
            path: path.to_path_buf(),
            cache_bytes,
            db: RwLock::new(Some(db)),
            name,
            bucket_ms: bucket_ms.max(1),
            buckets: Mutex::new(BTreeSet::new()),
            pending: Mutex::new(Pending::default()),
            unsynced: AtomicBool::new(false),
            lost: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            flush_turn: Mutex::new(()),
        };
        let found = ids.with_db("list tables", |db| ids.buckets_on_disk(db))?;
        *ids.lock() = found;
        Ok(ids)
    }

    fn buckets_on_disk(&self, db: &Database) -> Result<BTreeSet<u64>, redb::Error> {
        let prefix = format!("{}/", self.name);
        let read = db.begin_read()?;
        let found = read
            .list_tables()?
            .filter_map(|t| t.name().strip_prefix(&prefix)?.parse().ok())
            .collect();
        Ok(found)
    }

    /// Runs `f` on the database; after an I/O error, reopens the file before reporting it.
    fn with_db<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Database) -> Result<T, redb::Error>,
    ) -> Result<T, RecentError> {
        let (result, generation) = {
            let db = self.db.read().unwrap_or_else(|e| e.into_inner());
            let generation = self.generation.load(Ordering::SeqCst);
            match db.as_ref() {
                Some(db) => (f(db), generation),
                None => (Err(redb::Error::PreviousIo), generation),
            }
        };
        result.map_err(|cause| {
            // After these redb refuses every write until the file is reopened.
            if matches!(
                cause,
                redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::Corrupted(_)
            ) {
                self.reopen(generation);
            }
            RecentError::Store {
                op,
                path: self.path.display().to_string(),
                cause: Box::new(cause),
            }
        })
    }

    /// Closes the file and opens it again, which repairs it. Commits not yet durable are gone,
    /// as after a crash: the next flush says so. Inserts still in memory are kept.
    fn reopen(&self, seen_generation: u64) {
        // Holding this, no thread is inside redb.
        let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
        if db.is_some() && self.generation.load(Ordering::SeqCst) != seen_generation {
            return; // Another thread reopened it already.
        }
        drop(db.take());
        if self.unsynced.swap(false, Ordering::SeqCst) {
            self.lost.store(true, Ordering::SeqCst);
        }
        let fresh = open_db(&self.path, self.cache_bytes).and_then(|fresh| {
            let found = self
                .buckets_on_disk(&fresh)
                .map_err(|e| RecentError::Open {
                    path: self.path.display().to_string(),
                    cause: Box::new(e),
                })?;
            Ok((fresh, found))
        });
        match fresh {
            Ok((fresh, found)) => {
                *self.lock() = found;
                *db = Some(fresh);
                self.generation.fetch_add(1, Ordering::SeqCst);
                tracing::warn!(path = %self.path.display(), "store reopened after an I/O error");
            }
            Err(e) => tracing::error!(error = %e, "store cannot be reopened; next call retries"),
        }
    }

    fn bucket(&self, at_ms: u64) -> u64 {
        at_ms / self.bucket_ms
    }

    fn table_name(&self, bucket: u64) -> String {
        format!("{}/{bucket}", self.name)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeSet<u64>> {
        // The set only mirrors the tables on disk; a panic elsewhere cannot leave it half-changed.
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Files each `(at_ms, key, value)` under its time; written and made durable by the next
    /// [`flush`](Self::flush), and found by lookups at once.
    pub fn insert<K: AsRef<[u8]>, V: AsRef<[u8]>>(&self, entries: &[(u64, K, V)]) {
        let mut pending = self.pending();
        for (at_ms, key, value) in entries {
            pending.put(self.bucket(*at_ms), key.as_ref(), value.as_ref());
        }
    }

    /// Writes every insert so far in one transaction and makes it durable (one fsync), with
    /// any purge before it. Flushes take turns (redb has one writer), so when one returns every
    /// insert made before it was called is durable. If it fails, the inserts stay pending.
    pub fn flush(&self) -> Result<(), RecentError> {
        let _turn = self.flush_turn.lock().unwrap_or_else(|e| e.into_inner());
        self.with_db("flush", |db| {
            let mut write = db.begin_write()?;
            write.set_durability(Durability::Immediate)?;
            let batch = self.pending().start_flush();
            let unsynced = self.unsynced.swap(false, Ordering::SeqCst);
            if batch.is_empty() && !unsynced {
                // Nothing to make durable: every earlier write was flushed by an earlier turn.
                self.pending().finish_flush(true);
                write.abort()?;
                return Ok(());
            }
            let result = self.write_and_commit(write, &batch);
            self.pending().finish_flush(result.is_ok());
            if result.is_err() {
                self.unsynced.store(true, Ordering::SeqCst);
            }
            result
        })?;
        if self.lost.swap(false, Ordering::SeqCst) {
            return Err(RecentError::Lost {
                path: self.path.display().to_string(),
            });
        }
        Ok(())
    }

    fn write_and_commit(
        &self,
        write: redb::WriteTransaction,
        batch: &Entries,
    ) -> Result<(), redb::Error> {
        for (bucket, entries) in batch.by_bucket() {
            let name = self.table_name(bucket);
            let mut table = write.open_table(Table::new(&name))?;
            for (key, value) in entries {
                table.insert(key, value)?;
            }
        }
        // Before the commit, while this transaction is the only writer: a bucket set that
        // names a table not yet written only costs a lookup a miss.
        self.lock().extend(batch.buckets());
        write.commit()?;
        Ok(())
    }

    /// Deletes every bucket that ends at or before `before_ms`, durable at the next flush;
    /// returns how many entries went. Lookups skip those buckets from the start.
    pub fn drop_before(&self, before_ms: u64) -> Result<usize, RecentError> {
        let first_kept = self.bucket(before_ms);
        // Not while a flush is under way: a failed one puts its batch back.
        let _turn = self.flush_turn.lock().unwrap_or_else(|e| e.into_inner());
        self.pending().drop_before(first_kept);
        self.with_db("purge", |db| {
            let write = self.begin_unsynced(db)?;
            // Taken under the writer, so no flush adds one of them back in between.
            let old: Vec<u64> = {
                let mut buckets = self.lock();
                let kept = buckets.split_off(&first_kept);
                std::mem::replace(&mut *buckets, kept).into_iter().collect()
            };
            let result = self.delete_tables(write, &old);
            if result.is_err() {
                self.lock().extend(&old);
            }
            result
        })
    }

    fn delete_tables(
        &self,
        write: redb::WriteTransaction,
        buckets: &[u64],
    ) -> Result<usize, redb::Error> {
        let mut dropped = 0;
        for bucket in buckets {
            let name = self.table_name(*bucket);
            if let Ok(t) = write.open_table(Table::new(&name)) {
                dropped += t.len()? as usize;
            }
            write.delete_table(Table::new(&name))?;
        }
        write.commit()?;
        Ok(dropped)
    }

    /// Runs `f` in a read transaction of the file: for tables a caller keeps beside the ids.
    pub fn read<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, RecentError> {
        self.with_db(op, |db| f(&db.begin_read()?))
    }

    /// Runs `f` in a write transaction of the caller's own (a dispatcher's quota counters, in
    /// tables beside the buckets), committed without an fsync: the next flush makes it durable.
    pub fn write_unsynced<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, RecentError> {
        self.with_db(op, |db| {
            let write = self.begin_unsynced(db)?;
            let out = f(&write)?;
            write.commit()?;
            Ok(out)
        })
    }

    fn begin_unsynced(&self, db: &Database) -> Result<redb::WriteTransaction, redb::Error> {
        let mut write = db.begin_write()?;
        write.set_durability(Durability::None)?;
        self.unsynced.store(true, Ordering::SeqCst);
        Ok(write)
    }

    /// Buckets on disk (for tests and metrics).
    pub fn buckets(&self) -> usize {
        self.lock().len()
    }
}

fn open_db(path: &Path, cache_bytes: usize) -> Result<Database, RecentError> {
    let open_error = |cause: redb::Error| RecentError::Open {
        path: path.display().to_string(),
        cause: Box::new(cause),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| open_error(redb::Error::Io(e)))?;
    }
    Database::builder()
        .set_cache_size(cache_bytes)
        .create(path)
        .map_err(|e| open_error(e.into()))
}

#[cfg(test)]
mod tests;
