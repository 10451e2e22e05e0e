//! Short-lived ids on disk with bounded memory: ingest's seen message ids and a dispatcher's
//! settled pushes. Each lives a bounded time, so entries go into one sled tree per time bucket
//! and expiry drops whole trees: no index by time, no scan, nothing left behind. Keys are a
//! 16-byte hash of the id, whatever the id's length.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
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

/// Entries in trees named `<name>/<bucket>`, where bucket = time / `bucket_ms`. Which time an
/// entry is filed under is the caller's choice (when it was seen, when it expires); lookups name
/// the time or the range of times to search.
pub struct RecentIds {
    db: sled::Db,
    name: &'static str,
    bucket_ms: u64,
    trees: Mutex<BTreeMap<u64, sled::Tree>>,
}

impl RecentIds {
    /// Opens the buckets already on disk under `name`.
    pub fn open(db: &sled::Db, name: &'static str, bucket_ms: u64) -> sled::Result<Self> {
        let bucket_ms = bucket_ms.max(1);
        let prefix = format!("{name}/");
        let mut trees = BTreeMap::new();
        for tree_name in db.tree_names() {
            let parsed = std::str::from_utf8(&tree_name)
                .ok()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|b| b.parse::<u64>().ok());
            if let Some(bucket) = parsed {
                trees.insert(bucket, db.open_tree(&tree_name)?);
            }
        }
        Ok(RecentIds {
            db: db.clone(),
            name,
            bucket_ms,
            trees: Mutex::new(trees),
        })
    }

    fn bucket(&self, at_ms: u64) -> u64 {
        at_ms / self.bucket_ms
    }

    fn tree(&self, bucket: u64) -> Option<sled::Tree> {
        self.lock().get(&bucket).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, sled::Tree>> {
        // The map only caches handles; a panic elsewhere cannot leave it half-changed.
        self.trees.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Files `key` under time `at_ms`.
    pub fn insert(&self, at_ms: u64, key: &[u8], value: &[u8]) -> sled::Result<()> {
        let bucket = self.bucket(at_ms);
        let tree = match self.tree(bucket) {
            Some(t) => t,
            None => {
                let t = self.db.open_tree(format!("{}/{bucket}", self.name))?;
                self.lock().insert(bucket, t.clone());
                t
            }
        };
        tree.insert(key, value)?;
        Ok(())
    }

    /// The value filed under exactly the bucket of `at_ms`.
    pub fn get_at(&self, at_ms: u64, key: &[u8]) -> sled::Result<Option<sled::IVec>> {
        match self.tree(self.bucket(at_ms)) {
            Some(t) => t.get(key),
            None => Ok(None),
        }
    }

    /// The newest value filed at or after `since_ms`'s bucket.
    pub fn get_since(&self, since_ms: u64, key: &[u8]) -> sled::Result<Option<sled::IVec>> {
        let trees: Vec<sled::Tree> = self
            .lock()
            .range(self.bucket(since_ms)..)
            .rev()
            .map(|(_, t)| t.clone())
            .collect();
        for t in trees {
            if let Some(v) = t.get(key)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Drops every bucket that ends at or before `before_ms`; returns how many entries went.
    pub fn drop_before(&self, before_ms: u64) -> sled::Result<usize> {
        let first_kept = self.bucket(before_ms);
        let old: Vec<(u64, sled::Tree)> = {
            let mut trees = self.lock();
            let kept = trees.split_off(&first_kept);
            std::mem::replace(&mut *trees, kept).into_iter().collect()
        };
        let mut dropped = 0;
        for (bucket, tree) in old {
            dropped += tree.len();
            drop(tree);
            self.db.drop_tree(format!("{}/{bucket}", self.name))?;
        }
        Ok(dropped)
    }

    /// Buckets on disk (for tests and metrics).
    pub fn buckets(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(dir: &std::path::Path) -> sled::Db {
        crate::store::open(dir, 1024 * 1024).unwrap()
    }

    #[test]
    fn keys_separate_their_parts() {
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
        assert_eq!(key(&[b"a", b"b"]), key(&[b"a", b"b"]));
    }

    #[test]
    fn entries_are_found_in_their_bucket_and_dropped_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let ids = RecentIds::open(&db(dir.path()), "seen", 1_000).unwrap();
        let (a, b) = (key(&[b"a"]), key(&[b"b"]));
        ids.insert(1_500, &a, b"1").unwrap();
        ids.insert(3_200, &b, b"2").unwrap();
        assert_eq!(ids.get_at(1_999, &a).unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(ids.get_at(3_000, &a).unwrap(), None, "another bucket");
        assert!(ids.get_since(1_000, &a).unwrap().is_some());
        assert_eq!(ids.get_since(2_000, &a).unwrap(), None, "older than asked");
        assert_eq!(ids.drop_before(3_000).unwrap(), 1);
        assert_eq!(ids.get_since(0, &a).unwrap(), None);
        assert!(ids.get_since(0, &b).unwrap().is_some());
        assert_eq!(ids.buckets(), 1);
    }

    #[test]
    fn buckets_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let k = key(&[b"m"]);
        {
            let db = db(dir.path());
            let ids = RecentIds::open(&db, "settled", 60_000).unwrap();
            ids.insert(120_000, &k, b"x").unwrap();
            db.flush().unwrap();
        }
        let db = db(dir.path());
        let other = RecentIds::open(&db, "seen", 60_000).unwrap();
        assert_eq!(other.buckets(), 0, "another name's trees are not ours");
        let ids = RecentIds::open(&db, "settled", 60_000).unwrap();
        assert!(ids.get_at(179_999, &k).unwrap().is_some());
        assert_eq!(ids.drop_before(u64::MAX).unwrap(), 1);
        assert!(!db.tree_names().iter().any(|n| n.starts_with(b"settled/")));
    }
}
