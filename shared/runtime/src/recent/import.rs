//! Importing what a build before change 9 (docs/benchmarks.md) kept in sled: its bucket trees
//! have the names our tables have, so they are copied over, and the old folder is removed.

use super::{be_u64, RecentError, RecentIds, Table};
use redb::{Database, ReadableTable};
use std::collections::BTreeSet;
use std::path::Path;

impl RecentIds {
    /// If `dir` holds an older build's sled store, copies its `<name>/<bucket>` trees (entries
    /// not already here) and adds its `counters` trees (big-endian u64 values) to the counts
    /// here, makes that durable, then moves `dir` aside and removes it; returns how many
    /// entries came over. A crash before the move imports again at the next start (counters
    /// count twice then, which only defers pushes); one after it leaves nothing to import.
    pub fn import_sled(&self, dir: &Path, counters: &[&str]) -> Result<usize, RecentError> {
        crate::store::remove_imported(dir);
        if !dir.join("conf").exists() {
            return Ok(0);
        }
        let import_error = |cause: String| RecentError::Import {
            path: dir.display().to_string(),
            cause,
        };
        let old = crate::store::open(dir, 1 << 20).map_err(|e| import_error(e.to_string()))?;
        // Not through `with_db`: an error here stops the start, no reopen needed.
        let copied = {
            let db = self.db.read().unwrap_or_else(|e| e.into_inner());
            let db = db
                .as_ref()
                .ok_or_else(|| import_error("the store is closed".into()))?;
            self.copy_trees(db, &old, counters)
                .map_err(|e| import_error(e.to_string()))?
        };
        drop(old);
        self.flush()?;
        crate::store::retire(dir).map_err(|e| import_error(format!("moving it aside: {e}")))?;
        Ok(copied)
    }

    fn copy_trees(
        &self,
        db: &Database,
        old: &sled::Db,
        counters: &[&str],
    ) -> Result<usize, redb::Error> {
        let prefix = format!("{}/", self.name);
        let write = self.begin_unsynced(db)?;
        let (mut copied, mut buckets) = (0, BTreeSet::<u64>::new());
        for tree_name in old.tree_names() {
            let Ok(name) = std::str::from_utf8(&tree_name) else {
                continue;
            };
            let bucket: Option<u64> = name.strip_prefix(&prefix).and_then(|b| b.parse().ok());
            let is_counter = counters.contains(&name);
            if bucket.is_none() && !is_counter {
                // sled's default tree, and the single trees of the format before time buckets.
                continue;
            }
            let tree = old.open_tree(&tree_name).map_err(sled_error)?;
            let mut table = write.open_table(Table::new(name))?;
            for pair in tree.iter() {
                let (k, v) = pair.map_err(sled_error)?;
                let here = table.get(&k[..])?.map(|g| g.value().to_vec());
                let value = match (is_counter, here) {
                    (true, Some(here)) => (be_u64(&here) + be_u64(&v)).to_be_bytes().to_vec(),
                    (false, Some(_)) => continue,
                    (_, None) => v.to_vec(),
                };
                table.insert(&k[..], &value[..])?;
                copied += 1;
            }
            buckets.extend(bucket);
        }
        self.lock().extend(buckets);
        write.commit()?;
        Ok(copied)
    }
}

fn sled_error(e: sled::Error) -> redb::Error {
    redb::Error::Io(std::io::Error::other(format!(
        "reading the sled store: {e}"
    )))
}
