//! Importing what a build before change 9 (docs/benchmarks.md) kept in sled: its bucket trees
//! have the names our tables have, so they are copied as they are and the old folder removed.

use super::{begin_write, RecentError, RecentIds, Table};
use std::collections::BTreeSet;
use std::path::Path;

impl RecentIds {
    /// If `dir` holds an older build's sled store, copies its `<name>/<bucket>` trees and the
    /// trees named in `also` into this file, makes them durable and removes `dir`; returns how
    /// many entries came over. A crash part-way imports the same entries again at the next
    /// open (nothing is written between the import and the removal).
    pub fn import_sled(&self, dir: &Path, also: &[&str]) -> Result<usize, RecentError> {
        if !dir.join("conf").exists() {
            return Ok(0);
        }
        let import_error = |source: sled::Error| RecentError::Import {
            path: dir.display().to_string(),
            source,
        };
        let old = crate::store::open(dir, 1 << 20).map_err(|e| import_error(e.source))?;
        let prefix = format!("{}/", self.name);
        let write = begin_write(&self.db)?;
        let (mut copied, mut buckets) = (0, BTreeSet::<u64>::new());
        for tree_name in old.tree_names() {
            let Ok(name) = std::str::from_utf8(&tree_name) else {
                continue;
            };
            let bucket: Option<u64> = name.strip_prefix(&prefix).and_then(|b| b.parse().ok());
            if bucket.is_none() && !also.contains(&name) {
                // sled's default tree, and the single trees of the format before time buckets.
                continue;
            }
            let tree = old.open_tree(&tree_name).map_err(import_error)?;
            let mut table = write
                .open_table(Table::new(name))
                .map_err(redb::Error::from)?;
            for pair in tree.iter() {
                let (k, v) = pair.map_err(import_error)?;
                table.insert(&k[..], &v[..]).map_err(redb::Error::from)?;
                copied += 1;
            }
            buckets.extend(bucket);
        }
        write.commit().map_err(redb::Error::from)?;
        self.flush()?;
        drop(old);
        std::fs::remove_dir_all(dir).map_err(|e| import_error(sled::Error::Io(e)))?;
        self.lock().extend(buckets);
        Ok(copied)
    }
}
