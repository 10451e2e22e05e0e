//! Opening the sled folders older builds left (the registry's devices, the short-lived ids), so
//! that their contents can be imported into redb, and retiring them once they are.
//!
//! sled 0.34 calls itself beta, and no service writes to it any more: docs/dependencies.md.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
#[error("cannot open store at {path}: {source}")]
pub struct OpenError {
    pub path: String,
    #[source]
    pub source: sled::Error,
}

/// How long to wait for the file lock of a store this process has just closed (see [`open`]).
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens (or creates) the database in `dir`. The page cache is kept small: pushmesh's working set
/// is tiny next to the data on disk, and services aim for a small resident size.
///
/// sled lets go of its file lock only when its background threads have let go of the file, a
/// moment after the last handle is dropped (its own tests block on the lock for this reason),
/// so a store reopened by the same process can find it still held. That is waited out, up to
/// [`LOCK_WAIT`]; a lock another process keeps is still an error, after the wait.
pub fn open(dir: &Path, cache_bytes: u64) -> Result<sled::Db, OpenError> {
    let give_up = Instant::now() + LOCK_WAIT;
    loop {
        let opened = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::LowSpace)
            // Writes nobody flushed explicitly reach the disk within 100 ms (sled's default is
            // 500): what a crash can lose of them is bounded by that.
            .flush_every_ms(Some(100))
            .open();
        match opened {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && Instant::now() < give_up =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => {
                return other.map_err(|source| OpenError {
                    path: dir.display().to_string(),
                    source,
                })
            }
        }
    }
}

/// Moves a sled folder whose contents have been imported (and made durable) elsewhere aside,
/// then removes it. A crash before the move means the next start imports it again; one after it
/// leaves a folder [`remove_imported`] takes away.
pub fn retire(dir: &Path) -> std::io::Result<()> {
    std::fs::rename(dir, imported_path(dir))?;
    remove_imported(dir);
    Ok(())
}

/// Removes what [`retire`] moved aside from `dir`, if it is there. Its removal failing (or a
/// crash during it) only leaves disk space, so it is retried at every start and logged, never
/// fatal.
pub fn remove_imported(dir: &Path) {
    let aside = imported_path(dir);
    if aside.exists() {
        if let Err(e) = std::fs::remove_dir_all(&aside) {
            tracing::warn!(path = %aside.display(), error = %e, "cannot remove the imported sled store");
        }
    }
}

fn imported_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".imported");
    dir.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_reopens_at_once_after_it_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        // Enough writes a round that sled has segments in flight when the handle goes.
        for round in 0u32..50 {
            let db = open(dir.path(), 1 << 20).unwrap_or_else(|e| panic!("reopen {round}: {e}"));
            let tree = db.open_tree(format!("t{}", round % 3)).unwrap();
            for k in 0u32..1000 {
                tree.insert(k.to_be_bytes(), vec![round as u8; 100])
                    .unwrap();
            }
            if round % 2 == 0 {
                db.drop_tree(format!("t{}", (round + 1) % 3)).unwrap();
            }
            db.flush().unwrap();
        }
        let db = open(dir.path(), 1 << 20).unwrap();
        let last = db.open_tree("t1").unwrap().get(0u32.to_be_bytes()).unwrap();
        assert_eq!(last.as_deref(), Some(&[49u8; 100][..]));
    }

    #[test]
    fn a_store_another_handle_holds_is_refused_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let _held = open(dir.path(), 1 << 20).unwrap();
        let started = Instant::now();
        let err = open(dir.path(), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("could not acquire lock"), "{err}");
        assert!(
            started.elapsed() >= LOCK_WAIT,
            "gave up after {:?}",
            started.elapsed()
        );
    }
}
