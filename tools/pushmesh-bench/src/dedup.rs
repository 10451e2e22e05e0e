//! Ingest's dedup store at the size a day of traffic leaves it. The mesh scenarios run for
//! minutes, so the store they see holds one small bucket; this one fills every bucket of the
//! default 24 h window first. Not part of `all`: 18,000,000 ids take several minutes to load.

use crate::load;
use crate::report::Row;
use ingest::{DedupStore, DiskDedup, FilterStats};
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
    let filters = wait_for_filters(&store)?;
    // New messages: each lookup is a miss, so it searches every bucket in the window.
    let per_lookup = lookups(&store, now, "new")?;
    // A batch of 20 new messages recorded, as ingest does once a batch is confirmed.
    let started = Instant::now();
    for batch in 0..200 {
        let keys: Vec<_> = (0..20).map(|i| id("new", batch * 20 + i)).collect();
        store.record(&keys, now)?;
    }
    let per_record = started.elapsed().as_secs_f64() / 200.0;
    // A restart: lookups read the file until the filters are built again.
    drop(store);
    let started = Instant::now();
    let store = DiskDedup::open(dir.path(), WINDOW_MS)?;
    let opened = started.elapsed();
    let unfiltered = lookups(&store, now, "after restart")?;
    wait_for_filters(&store)?;
    let rebuilt = started.elapsed();
    drop(store);
    let mb = std::fs::metadata(dir.path().join("ingest.redb"))?.len() >> 20;
    Ok(vec![Row::new(
        "dedup at a day's size",
        format!(
            "{:.0} lookups/s ({:.1} µs each); recording 20 ids {:.1} ms; filters {} MB",
            1.0 / per_lookup,
            per_lookup * 1e6,
            per_record * 1e3,
            filters.bytes >> 20
        ),
        format!(
            "{n} message ids over the 24 h window (loaded in {:.0} s, {mb} MB), ingest's store; \
             {LOOKUPS} lookups of new ids. After a restart: opened in {:.1} s, filters rebuilt \
             in {:.1} s, lookups while they were built {:.1} µs each",
            loaded.as_secs_f64(),
            opened.as_secs_f64(),
            rebuilt.as_secs_f64(),
            unfiltered * 1e6
        ),
        "",
        None,
    )])
}

const LOOKUPS: u64 = 50_000;

/// Seconds per lookup of a new id.
fn lookups(store: &DiskDedup, now: u64, kind: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    for i in 0..LOOKUPS {
        let seen = store.seen_since(&id(kind, i), now - WINDOW_MS)?;
        anyhow::ensure!(!seen, "new id {i} was found in the store");
    }
    Ok(started.elapsed().as_secs_f64() / LOOKUPS as f64)
}

/// Waits until every bucket has its filter (ingest builds them from the file in the
/// background after a restart, and when records have moved on from a bucket whose filter
/// misfits its count).
fn wait_for_filters(store: &DiskDedup) -> anyhow::Result<FilterStats> {
    let started = Instant::now();
    loop {
        let stats = store.filter_stats();
        if stats.building == 0 {
            return Ok(stats);
        }
        anyhow::ensure!(
            started.elapsed().as_secs() < 600,
            "dedup filters still building after 10 minutes: {stats:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
