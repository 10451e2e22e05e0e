//! Lookups: a key in one bucket or in every bucket since a time, and the buckets themselves.

use super::{ReadTable, RecentError, RecentIds, Table};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

/// A key and its value, as read.
pub type Entry = (Vec<u8>, Vec<u8>);

impl RecentIds {
    /// The value filed under exactly the bucket of `at_ms`.
    pub fn get_at(&self, at_ms: u64, key: &[u8]) -> Result<Option<Vec<u8>>, RecentError> {
        let bucket = self.bucket(at_ms);
        if let Some(v) = self.pending().get(key, bucket..=bucket) {
            return Ok(Some(v));
        }
        if !self.lock().contains(&bucket) {
            return Ok(None);
        }
        self.get_in(&[bucket], key)
    }

    /// The newest value filed at or after `since_ms`'s bucket.
    pub fn get_since(&self, since_ms: u64, key: &[u8]) -> Result<Option<Vec<u8>>, RecentError> {
        self.get_since_where(since_ms, key, |_| true)
    }

    /// As [`get_since`](Self::get_since), reading from the file only the buckets `may_hold`
    /// does not rule out (a caller's filter); inserts not yet flushed are always searched.
    pub fn get_since_where(
        &self,
        since_ms: u64,
        key: &[u8],
        may_hold: impl Fn(u64) -> bool,
    ) -> Result<Option<Vec<u8>>, RecentError> {
        let first = self.bucket(since_ms);
        if let Some(v) = self.pending().get(key, first..=u64::MAX) {
            return Ok(Some(v));
        }
        let on_disk: Vec<u64> = self.lock().range(first..).rev().copied().collect();
        let buckets: Vec<u64> = on_disk.into_iter().filter(|b| may_hold(*b)).collect();
        self.get_in(&buckets, key)
    }

    /// The bucket `at_ms` is filed under.
    pub fn bucket_of(&self, at_ms: u64) -> u64 {
        self.bucket(at_ms)
    }

    /// The buckets on disk, oldest first.
    pub fn bucket_list(&self) -> Vec<u64> {
        self.lock().iter().copied().collect()
    }

    /// How many keys are flushed to `bucket` (0 if it is gone).
    pub fn bucket_len(&self, bucket: u64) -> Result<usize, RecentError> {
        self.with_db("read", |db| {
            match self.open_bucket(&db.begin_read()?, bucket)? {
                Some(table) => Ok(table.len()? as usize),
                None => Ok(0),
            }
        })
    }

    /// Calls `f` with each key flushed to `bucket` (none if it is gone), in one read
    /// transaction, until `f` returns false; returns how many keys it was given.
    pub fn for_each_key(
        &self,
        bucket: u64,
        mut f: impl FnMut(&[u8]) -> bool,
    ) -> Result<usize, RecentError> {
        self.with_db("read", |db| {
            let Some(table) = self.open_bucket(&db.begin_read()?, bucket)? else {
                return Ok(0);
            };
            let mut given = 0;
            for entry in table.iter()? {
                given += 1;
                if !f(entry?.0.value()) {
                    break;
                }
            }
            Ok(given)
        })
    }

    /// Up to `limit` flushed entries whose key starts with `prefix`, newest first: the newest
    /// bucket first, and within one bucket in falling key order. In one read transaction.
    pub fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Vec<Entry>, RecentError> {
        let buckets = self.bucket_list();
        self.with_db("read", |db| {
            let read = db.begin_read()?;
            let mut out = Vec::new();
            for bucket in buckets.into_iter().rev() {
                let Some(table) = self.open_bucket(&read, bucket)? else {
                    continue;
                };
                let entries = match prefix_end(prefix) {
                    Some(end) => table.range::<&[u8]>(prefix..end.as_slice())?,
                    None => table.range::<&[u8]>(prefix..)?,
                };
                for entry in entries.rev() {
                    if out.len() >= limit {
                        return Ok(out);
                    }
                    let (k, v) = entry?;
                    out.push((k.value().to_vec(), v.value().to_vec()));
                }
            }
            Ok(out)
        })
    }

    /// The first of `buckets` that holds `key`, in one read transaction.
    fn get_in(&self, buckets: &[u64], key: &[u8]) -> Result<Option<Vec<u8>>, RecentError> {
        if buckets.is_empty() {
            return Ok(None);
        }
        self.with_db("read", |db| {
            let read = db.begin_read()?;
            for bucket in buckets {
                let Some(table) = self.open_bucket(&read, *bucket)? else {
                    continue;
                };
                if let Some(v) = table.get(key)? {
                    return Ok(Some(v.value().to_vec()));
                }
            }
            Ok(None)
        })
    }

    /// The table of `bucket`; `None` if it is gone (deleted by a purge since the bucket set
    /// was read).
    fn open_bucket(
        &self,
        read: &redb::ReadTransaction,
        bucket: u64,
    ) -> Result<Option<ReadTable>, redb::Error> {
        match read.open_table(Table::new(&self.table_name(bucket))) {
            Ok(table) => Ok(Some(table)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// The first key after every key that starts with `prefix`; None if there is none (all 0xff).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
