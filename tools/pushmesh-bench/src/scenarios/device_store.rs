//! The registry scenario: the device store at a million devices, in this process.

use crate::load;
use crate::report::Row;
use pushmesh_contract::Vendor;
use registry::DeviceStore;
use std::time::Instant;

/// Devices registered between two flushes of the registry scenario's store. redb reuses the
/// pages a commit frees only after a durable one, so flushing only at the end would measure a
/// file larger than the service, which flushes each batch, ever has.
const FLUSH_EVERY: usize = 100;

/// Registry lookups/s and bytes per device on disk, with `n` devices in the registry's store,
/// in this process (so on the same allocator as the registry service). The store is flushed
/// every [`FLUSH_EVERY`] devices, as the service flushes each batch of binding events.
pub fn registry(n: usize, cache_bytes: u64) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let store = registry::open_store(dir.path(), 0, cache_bytes)?;
    let started = Instant::now();
    let mut progress = load::Progress::new("registry devices registered", n as u64, started);
    for i in 0..n {
        let (push_id, _) =
            store.register("bench", Vendor::Fcm, &load::fcm_like_token(i), None, None)?;
        store.bind("bench", &push_id, &format!("user-{i}"))?;
        if (i + 1) % FLUSH_EVERY == 0 {
            store.flush()?;
        }
        progress.tick(i as u64 + 1);
    }
    store.flush()?;
    let lookups = 1_000_000usize.min(n * 2);
    let users: Vec<String> = (0..lookups)
        .map(|i| format!("user-{}", (i * 7919) % n))
        .collect();
    let (one_by_one, _) = lookup_rate(&store, &users, 1, "registry lookups, one a read")?;
    let (rate, found) = lookup_rate(&store, &users, LOOKUP_RUN, "registry lookups, a run a read")?;
    drop(store);
    let bytes = dir_size(dir.path());
    let per_device = bytes as f64 / n as f64;
    Ok(vec![
        Row::new(
            "registry lookups",
            format!("{rate:.0} lookups/s"),
            format!(
                "{lookups} user lookups ({found} devices) among {n}, {} MB cache, \
                 {LOOKUP_RUN} users a read as the push path reads them ({one_by_one:.0}/s \
                 one a read, as the HTTP API does)",
                cache_bytes >> 20
            ),
            ">= 200,000/s",
            Some(rate >= 200_000.0),
        ),
        Row::new(
            "registry size",
            format!("{per_device:.0} bytes/device"),
            format!("{n} devices with 163-character tokens shaped as FCM's, redb after flush"),
            "<= 300",
            Some(per_device <= 300.0),
        ),
    ])
}

/// Users resolved in one read of the store in the registry scenario: the jobs of a run of
/// the registry's batch are resolved together, and at the peer load a batch carries about
/// this many.
const LOOKUP_RUN: usize = 32;

/// Looks up every one of `users`, `run` to a read of the store; returns lookups/s and the
/// devices found.
fn lookup_rate(
    store: &registry::RedbDevices,
    users: &[String],
    run: usize,
    what: &'static str,
) -> anyhow::Result<(f64, usize)> {
    let started = Instant::now();
    let mut progress = load::Progress::new(what, users.len() as u64, started);
    let mut found = 0;
    for (i, chunk) in users.chunks(run).enumerate() {
        let who: Vec<(&str, &str)> = chunk.iter().map(|u| ("bench", u.as_str())).collect();
        found += store
            .devices_of_each(&who)?
            .iter()
            .map(Vec::len)
            .sum::<usize>();
        if i % 64 == 0 {
            progress.tick((i * run) as u64);
        }
    }
    Ok((users.len() as f64 / started.elapsed().as_secs_f64(), found))
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(md) if md.is_dir() => dir_size(&e.path()),
                    Ok(md) => md.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
