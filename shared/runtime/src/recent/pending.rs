//! Inserts not yet flushed: found by lookups at once, written by the next flush in one
//! transaction. Bounded by what a service does between two flushes (its batches in flight).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;

/// A key and its value.
pub(super) type Entry<'a> = (&'a [u8], &'a [u8]);

#[derive(Default)]
pub(super) struct Pending {
    /// key -> (bucket, value), one per bucket the key was filed under.
    entries: HashMap<Vec<u8>, Vec<(u64, Vec<u8>)>>,
}

impl Pending {
    pub fn put(&mut self, bucket: u64, key: &[u8], value: &[u8]) {
        let filed = self.entries.entry(key.to_vec()).or_default();
        match filed.iter_mut().find(|(b, _)| *b == bucket) {
            Some((_, v)) => *v = value.to_vec(),
            None => filed.push((bucket, value.to_vec())),
        }
    }

    /// The value in the newest of `buckets` that holds `key`.
    pub fn get(&self, key: &[u8], buckets: RangeInclusive<u64>) -> Option<Vec<u8>> {
        self.entries
            .get(key)?
            .iter()
            .filter(|(b, _)| buckets.contains(b))
            .max_by_key(|(b, _)| *b)
            .map(|(_, v)| v.clone())
    }

    pub fn take(&mut self) -> Pending {
        std::mem::take(self)
    }

    /// Puts back a batch that failed to flush; what was put since wins.
    pub fn restore(&mut self, batch: Pending) {
        for (key, filed) in batch.entries {
            for (bucket, value) in filed {
                if self.get(&key, bucket..=bucket).is_none() {
                    self.put(bucket, &key, &value);
                }
            }
        }
    }

    pub fn drop_before(&mut self, first_kept: u64) {
        self.entries.retain(|_, filed| {
            filed.retain(|(b, _)| *b >= first_kept);
            !filed.is_empty()
        });
    }

    pub fn by_bucket(&self) -> BTreeMap<u64, Vec<Entry<'_>>> {
        let mut out: BTreeMap<u64, Vec<Entry<'_>>> = BTreeMap::new();
        for (key, filed) in &self.entries {
            for (bucket, value) in filed {
                out.entry(*bucket).or_default().push((key, value));
            }
        }
        out
    }

    pub fn buckets(&self) -> BTreeSet<u64> {
        self.entries
            .values()
            .flat_map(|filed| filed.iter().map(|(b, _)| *b))
            .collect()
    }
}
