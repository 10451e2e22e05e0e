//! The thread that builds dedup filters from the file (see [`super::filters`]).

use super::filters::{hash_of, Filter, Shared, State, MIN_CAPACITY};
use pushmesh_runtime::recent::RecentError;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Instant;

/// Buckets to build, in the order asked. Dropping it stops the thread mid-bucket and waits for
/// it, so the file is closed when the store is.
pub(super) struct BuildRequests {
    shared: Arc<Shared>,
    queue: Option<mpsc::Sender<u64>>,
    thread: Option<JoinHandle<()>>,
}

impl BuildRequests {
    pub fn ask(&self, bucket: u64) {
        if let Some(queue) = &self.queue {
            let _ = queue.send(bucket);
        }
    }
}

impl Drop for BuildRequests {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(super) fn build_each(shared: Arc<Shared>) -> BuildRequests {
    let (queue, asked) = mpsc::channel();
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("dedup-filters".into())
            .spawn(move || {
                while let Ok(bucket) = asked.recv() {
                    build_logged(&shared, bucket);
                }
            })
    };
    let thread = match thread {
        Ok(t) => Some(t),
        Err(e) => {
            // Lookups keep reading every bucket from the file; nothing is wrong but speed.
            tracing::error!(error = %e, "cannot start the dedup filter thread");
            None
        }
    };
    BuildRequests {
        shared,
        queue: thread.is_some().then_some(queue),
        thread,
    }
}

fn build_logged(shared: &Shared, bucket: u64) {
    if shared.stop.load(Ordering::SeqCst) {
        return;
    }
    let started = Instant::now();
    match build(shared, bucket) {
        Ok(Some((keys, bytes))) => tracing::info!(
            bucket,
            keys,
            bytes,
            ms = started.elapsed().as_millis() as u64,
            "dedup filter built"
        ),
        Ok(None) => {}
        Err(e) => {
            // Back to the filter it had, if any; the next bucket change asks again.
            let mut states = shared.states();
            if let Some(State::Building(Some(old), _)) = states.by_bucket.remove(&bucket) {
                states.by_bucket.insert(bucket, State::Ready(old));
            }
            tracing::warn!(bucket, error = %e, "cannot build a dedup filter");
        }
    }
}

/// Builds the filter of `bucket` from the file and puts it in place, unless the bucket went
/// meanwhile; returns its keys and bytes.
fn build(shared: &Shared, bucket: u64) -> Result<Option<(usize, usize)>, RecentError> {
    {
        // Once no record is between noting its keys and flushing them, every key recorded so
        // far is in the file for the read below, and every later one waits in Building.
        let _between_records = shared.gate.write().unwrap_or_else(|e| e.into_inner());
        let mut states = shared.states();
        match states.by_bucket.remove(&bucket) {
            Some(State::Queued(old)) => {
                states
                    .by_bucket
                    .insert(bucket, State::Building(old, Vec::new()));
            }
            Some(other) => {
                states.by_bucket.insert(bucket, other);
                return Ok(None);
            }
            None => return Ok(None), // Purged since it was asked for.
        }
    }
    let on_disk = shared.seen.bucket_len(bucket)?;
    // The bucket records go to keeps growing: room for as many again.
    let capacity = if bucket >= shared.states().current {
        (on_disk * 2).max(MIN_CAPACITY)
    } else {
        on_disk
    };
    let mut filter = Filter::new(capacity);
    shared.seen.for_each_key(bucket, |key| {
        filter.insert(hash_of(key));
        !shared.stop.load(Ordering::Relaxed)
    })?;
    if shared.stop.load(Ordering::SeqCst) {
        return Ok(None);
    }
    let mut states = shared.states();
    let Some(State::Building(_, meanwhile)) = states.by_bucket.remove(&bucket) else {
        return Ok(None); // Purged while it was read.
    };
    meanwhile.into_iter().for_each(|h| filter.insert(h));
    let done = (filter.keys, filter.bytes());
    states.by_bucket.insert(bucket, State::Ready(filter));
    Ok(Some(done))
}
