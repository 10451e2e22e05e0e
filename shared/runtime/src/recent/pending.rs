//! Inserts not yet durable: found by lookups at once, written by the next flush in one
//! transaction. Bounded by what a service does between two flushes (its batches in flight).
//!
//! A flush moves the entries to `flushing` and writes a copy; they stay visible there until
//! the commit is done, so a lookup never falls between the memory and the file.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;

/// key -> (bucket, value), one per bucket the key was filed under.
#[derive(Default, Clone)]
pub(super) struct Entries(HashMap<Vec<u8>, Vec<(u64, Vec<u8>)>>);

/// A key and its value.
pub(super) type Entry<'a> = (&'a [u8], &'a [u8]);

impl Entries {
    fn put(&mut self, bucket: u64, key: &[u8], value: &[u8]) {
        let filed = self.0.entry(key.to_vec()).or_default();
        match filed.iter_mut().find(|(b, _)| *b == bucket) {
            Some((_, v)) => *v = value.to_vec(),
            None => filed.push((bucket, value.to_vec())),
        }
    }

    fn get(&self, key: &[u8], buckets: &RangeInclusive<u64>) -> Option<(u64, Vec<u8>)> {
        self.0
            .get(key)?
            .iter()
            .filter(|(b, _)| buckets.contains(b))
            .max_by_key(|(b, _)| *b)
            .cloned()
    }

    fn drop_before(&mut self, first_kept: u64) {
        self.0.retain(|_, filed| {
            filed.retain(|(b, _)| *b >= first_kept);
            !filed.is_empty()
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn by_bucket(&self) -> BTreeMap<u64, Vec<Entry<'_>>> {
        let mut out: BTreeMap<u64, Vec<Entry<'_>>> = BTreeMap::new();
        for (key, filed) in &self.0 {
            for (bucket, value) in filed {
                out.entry(*bucket).or_default().push((key, value));
            }
        }
        out
    }

    pub fn buckets(&self) -> BTreeSet<u64> {
        self.0
            .values()
            .flat_map(|filed| filed.iter().map(|(b, _)| *b))
            .collect()
    }
}

#[derive(Default)]
pub(super) struct Pending {
    entries: Entries,
    /// What the flush in progress is writing (flushes take turns under redb's writer).
    flushing: Entries,
}

impl Pending {
    pub fn put(&mut self, bucket: u64, key: &[u8], value: &[u8]) {
        self.entries.put(bucket, key, value);
    }

    /// The value in the newest of `buckets` that holds `key`, newer inserts first.
    pub fn get(&self, key: &[u8], buckets: RangeInclusive<u64>) -> Option<Vec<u8>> {
        let newer = self.entries.get(key, &buckets);
        let older = self.flushing.get(key, &buckets);
        match (newer, older) {
            (Some(n), Some(o)) if o.0 > n.0 => Some(o.1),
            (Some(n), _) => Some(n.1),
            (None, o) => o.map(|o| o.1),
        }
    }

    /// Starts a flush: the entries so far, to write (they stay visible until `finish_flush`).
    pub fn start_flush(&mut self) -> Entries {
        self.flushing = std::mem::take(&mut self.entries);
        self.flushing.clone()
    }

    /// Ends a flush: written entries leave memory; a failed flush's go back, and what was put
    /// since wins.
    pub fn finish_flush(&mut self, written: bool) {
        let flushed = std::mem::take(&mut self.flushing);
        if written {
            return;
        }
        for (key, filed) in flushed.0 {
            for (bucket, value) in filed {
                if self.entries.get(&key, &(bucket..=bucket)).is_none() {
                    self.entries.put(bucket, &key, &value);
                }
            }
        }
    }

    pub fn drop_before(&mut self, first_kept: u64) {
        self.entries.drop_before(first_kept);
        self.flushing.drop_before(first_kept);
    }
}
