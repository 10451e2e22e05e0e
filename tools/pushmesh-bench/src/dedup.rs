//! Ingest's dedup store at the size a day of traffic leaves it. The mesh scenarios run for
//! minutes, so the store they see holds one small bucket; this one fills every bucket of the
//! default 24 h window first. Not part of `all`: 18,000,000 ids take several minutes to load.

use crate::load;
use crate::report::Row;
use ingest::{DedupStore, DiskDedup};
use pushmesh_contract::now_ms;
use pushmesh_runtime::recent::key;
use std::time::Instant;

/// `ingest.dedup_window_s`'s default, in ms.
const WINDOW_MS: u64 = 86_400_000;

fn id(kind: &str, n: u64) -> [u8; 16] {
    key(&[b"bench", kind.as_bytes(), &n.to_be_bytes()])
}

pub fn dedup(n: u64) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let store = DiskDedup::open(dir.path(), WINDOW_MS)?;
    let now = now_ms();
    let started = Instant::now();
    let mut progress = load::Progress::new("dedup ids recorded", n, started);
    let mut recorded = 0;
    while recorded < n {
        let end = (recorded + 10_000).min(n);
        // Spread over the window, oldest first, as a day of messages files them.
        let at = now - WINDOW_MS + recorded * WINDOW_MS / n;
        let keys: Vec<_> = (recorded..end).map(|i| id("seen", i)).collect();
        store.record(&keys, at)?;
        recorded = end;
        progress.tick(recorded);
    }
    let loaded = started.elapsed();
    // New messages: each lookup is a miss, so it searches every bucket in the window.
    let lookups = 50_000;
    let started = Instant::now();
    for i in 0..lookups {
        let seen = store.seen_since(&id("new", i), now - WINDOW_MS)?;
        anyhow::ensure!(!seen, "new id {i} was found in the store");
    }
    let per_lookup = started.elapsed().as_secs_f64() / lookups as f64;
    // A batch of 20 new messages recorded, as ingest does once a batch is confirmed.
    let started = Instant::now();
    for batch in 0..200 {
        let keys: Vec<_> = (0..20).map(|i| id("new", batch * 20 + i)).collect();
        store.record(&keys, now)?;
    }
    let per_record = started.elapsed().as_secs_f64() / 200.0;
    drop(store);
    let mb = std::fs::metadata(dir.path().join("ingest.redb"))?.len() >> 20;
    Ok(vec![Row::new(
        "dedup at a day's size",
        format!(
            "{:.0} lookups/s ({:.1} µs each); recording 20 ids {:.1} ms",
            1.0 / per_lookup,
            per_lookup * 1e6,
            per_record * 1e3
        ),
        format!(
            "{n} message ids over the 24 h window (loaded in {:.0} s, {mb} MB), ingest's store; \
             {lookups} lookups of new ids",
            loaded.as_secs_f64()
        ),
        "",
        None,
    )])
}
