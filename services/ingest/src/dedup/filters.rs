//! A Bloom filter in memory for each bucket of the dedup window. Nearly every lookup is of a
//! new message id, which must be looked for in every bucket; a bucket's filter rules it out
//! without reading the file. Without them a lookup in a day's window read nine B-trees far
//! larger than the page cache (128-188 µs at 18,000,000 ids, docs/benchmarks.md).
//!
//! The bucket records go to gets an empty filter when records move to it, sized for half as
//! much again as the one before, and each record adds its keys. Once records have moved on, a
//! bucket whose filter misfits its count is built again from the file, to its count, on a
//! thread of its own (the old one is used meanwhile); so is every bucket after a restart.
//! Until a bucket has a filter its lookups read the file, as before.
//!
//! A filter never lacks a key its bucket holds. Keys go in before they are flushed, so no
//! lookup falls between the file and the filter; and a build starts only between records (the
//! gate), so every record was either flushed before the build's read or adds its keys beside
//! the build, to go in when it is done.

use super::build::{build_each, BuildRequests};
use fastbloom::BloomFilter;
use pushmesh_runtime::recent::RecentIds;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

/// A new id is looked for in the file of one bucket in a hundred; about 10 bits per id.
const FALSE_POSITIVE_RATE: f64 = 0.01;

/// The smallest filter, for a bucket records have just moved to (about 120 KB).
pub(super) const MIN_CAPACITY: usize = 100_000;

/// Keys are the first 16 bytes of a SHA-256, so any 8 of them are already a good hash.
pub(super) fn hash_of(key: &[u8]) -> u64 {
    key.get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0)
}

pub(super) struct Filter {
    bloom: BloomFilter,
    /// Keys it was sized for; past that its false positives grow.
    capacity: usize,
    pub keys: usize,
}

impl Filter {
    pub fn new(capacity: usize) -> Self {
        Filter {
            bloom: BloomFilter::with_false_pos(FALSE_POSITIVE_RATE).expected_items(capacity),
            capacity,
            keys: 0,
        }
    }

    pub fn insert(&mut self, hash: u64) {
        self.bloom.insert_hash(hash);
        self.keys += 1;
    }

    /// Took more keys than it was sized for (more false positives), or under three quarters
    /// (more memory than needed): worth building again to its count once records move on.
    fn misfits(&self) -> bool {
        self.keys > self.capacity || self.keys < self.capacity / 4 * 3
    }

    pub fn bytes(&self) -> usize {
        self.bloom.num_bits() / 8
    }
}

pub(super) enum State {
    /// Asked of the builder; the filter it replaces, if any, is still used.
    Queued(Option<Filter>),
    /// Being read from the file; hashes recorded meanwhile, which that read may miss.
    Building(Option<Filter>, Vec<u64>),
    Ready(Filter),
}

#[derive(Default)]
pub(super) struct States {
    /// The newest bucket records went to.
    pub current: u64,
    pub by_bucket: BTreeMap<u64, State>,
}

pub(super) struct Shared {
    pub seen: Arc<RecentIds>,
    states: Mutex<States>,
    /// Held shared by each record from adding its keys to a filter until its flush is done,
    /// and alone by the builder while it marks a bucket Building.
    pub gate: RwLock<()>,
    pub stop: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub fn states(&self) -> MutexGuard<'_, States> {
        // Each state is replaced whole; a panic elsewhere cannot leave one half-changed.
        self.states.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How far the filters have got, for the bench, the tests and a gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterStats {
    pub ready: usize,
    pub building: usize,
    pub bytes: usize,
}

pub(super) struct Filters {
    shared: Arc<Shared>,
    builds: BuildRequests,
}

impl Filters {
    /// Starts the builder and asks it for every bucket on disk: the newest is the one records
    /// go to.
    pub fn start(seen: Arc<RecentIds>) -> Self {
        let on_disk = seen.bucket_list();
        let shared = Arc::new(Shared {
            seen,
            states: Mutex::default(),
            gate: RwLock::new(()),
            stop: Default::default(),
        });
        let builds = build_each(shared.clone());
        {
            let mut states = shared.states();
            states.current = on_disk.last().copied().unwrap_or(0);
            for bucket in on_disk {
                states.by_bucket.insert(bucket, State::Queued(None));
                builds.ask(bucket);
            }
        }
        Filters { shared, builds }
    }

    /// Could `bucket` hold the key of `hash`? True unless a filter of it says no.
    pub fn may_hold(&self, bucket: u64, hash: u64) -> bool {
        match self.shared.states().by_bucket.get(&bucket) {
            Some(State::Ready(f) | State::Queued(Some(f)) | State::Building(Some(f), _)) => {
                f.bloom.contains_hash(hash)
            }
            _ => true,
        }
    }

    /// Adds keys about to be recorded to `bucket` to its filter, if it has one or is getting
    /// one. Call [`advance_to`](Self::advance_to) first; hold the guard until they are flushed.
    #[must_use = "hold it until the keys are flushed"]
    pub fn note(&self, bucket: u64, hashes: &[u64]) -> RwLockReadGuard<'_, ()> {
        let recording = self.shared.gate.read().unwrap_or_else(|e| e.into_inner());
        let mut states = self.shared.states();
        let (filter, meanwhile) = match states.by_bucket.get_mut(&bucket) {
            Some(State::Ready(f)) => (Some(f), None),
            Some(State::Queued(f)) => (f.as_mut(), None),
            Some(State::Building(f, meanwhile)) => (f.as_mut(), Some(meanwhile)),
            None => (None, None),
        };
        if let Some(filter) = filter {
            hashes.iter().for_each(|h| filter.insert(*h));
        }
        if let Some(meanwhile) = meanwhile {
            meanwhile.extend_from_slice(hashes);
        }
        recording
    }

    /// Records are about to go to `bucket`. If that is newer than before, it gets an empty
    /// filter, and each older bucket without a filter, or with one that misfits its count, is
    /// built from the file.
    pub fn advance_to(&self, bucket: u64) {
        let mut states = self.shared.states();
        if bucket <= states.current {
            return;
        }
        let last_keys = match states.by_bucket.get(&states.current) {
            Some(State::Ready(f)) => f.keys,
            // Still being built (just after a start): the file knows.
            _ => self.shared.seen.bucket_len(states.current).unwrap_or(0),
        };
        states.current = bucket;
        // A little more than the last bucket took, for traffic that grows.
        let capacity = (last_keys + last_keys / 2).max(MIN_CAPACITY);
        states
            .by_bucket
            .entry(bucket)
            .or_insert_with(|| State::Ready(Filter::new(capacity)));
        for older in self.shared.seen.bucket_list() {
            if older >= bucket {
                continue;
            }
            let state = states.by_bucket.remove(&older);
            let replaced = match state {
                None => None,
                Some(State::Ready(f)) if f.misfits() => Some(f),
                Some(kept) => {
                    states.by_bucket.insert(older, kept);
                    continue;
                }
            };
            states.by_bucket.insert(older, State::Queued(replaced));
            self.builds.ask(older);
        }
    }

    /// Forgets the filters of buckets before `first_kept` (purged from the file).
    pub fn drop_before(&self, first_kept: u64) {
        let mut states = self.shared.states();
        states.by_bucket = states.by_bucket.split_off(&first_kept);
    }

    pub fn stats(&self) -> FilterStats {
        let states = self.shared.states();
        let mut stats = FilterStats {
            ready: 0,
            building: 0,
            bytes: 0,
        };
        for state in states.by_bucket.values() {
            let filter = match state {
                State::Ready(f) => {
                    stats.ready += 1;
                    Some(f)
                }
                State::Queued(f) | State::Building(f, _) => {
                    stats.building += 1;
                    f.as_ref()
                }
            };
            stats.bytes += filter.map_or(0, Filter::bytes);
        }
        stats
    }
}
