//! Opening sled, the embedded store behind the registry's and ingest's store traits.
//!
//! sled 0.34 calls itself beta, so no service touches it outside its own store module, and every
//! write that an ack depends on is flushed first.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("cannot open store at {path}: {source}")]
pub struct OpenError {
    pub path: String,
    #[source]
    pub source: sled::Error,
}

/// Opens (or creates) the database in `dir`. The page cache is kept small: pushmesh's working set
/// is tiny next to the data on disk, and services aim for a small resident size.
pub fn open(dir: &Path, cache_bytes: u64) -> Result<sled::Db, OpenError> {
    sled::Config::new()
        .path(dir)
        .cache_capacity(cache_bytes)
        .mode(sled::Mode::LowSpace)
        // Writes nobody flushed explicitly reach the disk within 100 ms (sled's default is 500):
        // what a crash can lose of them is bounded by that.
        .flush_every_ms(Some(100))
        .open()
        .map_err(|source| OpenError {
            path: dir.display().to_string(),
            source,
        })
}
