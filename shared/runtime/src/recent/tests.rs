use super::*;
use std::sync::atomic::AtomicU64;

const CACHE: usize = 1 << 20;

fn open(dir: &Path, name: &'static str, bucket_ms: u64) -> RecentIds {
    RecentIds::open(&dir.join("ids.redb"), name, bucket_ms, CACHE).unwrap()
}

#[test]
fn keys_separate_their_parts() {
    assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
    assert_eq!(key(&[b"a", b"b"]), key(&[b"a", b"b"]));
}

#[test]
fn the_folder_is_made_and_a_bad_path_is_named() {
    let dir = tempfile::tempdir().unwrap();
    open(&dir.path().join("data/new"), "seen", 1_000);
    assert!(dir.path().join("data/new/ids.redb").exists());
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let err = RecentIds::open(&file.join("ids.redb"), "seen", 1_000, CACHE)
        .err()
        .unwrap();
    assert!(err.to_string().contains("cannot open store at"), "{err}");
    assert!(err.to_string().contains("file/ids.redb"), "{err}");
}

#[test]
fn entries_are_found_in_their_bucket_and_dropped_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let ids = open(dir.path(), "seen", 1_000);
    let (a, b) = (key(&[b"a"]), key(&[b"b"]));
    ids.insert(&[(1_500, a, b"1"), (3_200, b, b"2")]);
    for flushed in [false, true] {
        assert_eq!(ids.get_at(1_999, &a).unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(ids.get_at(3_000, &a).unwrap(), None, "another bucket");
        assert!(ids.get_since(1_000, &a).unwrap().is_some());
        assert_eq!(ids.get_since(2_000, &a).unwrap(), None, "older than asked");
        assert_eq!(ids.buckets(), if flushed { 2 } else { 0 });
        ids.flush().unwrap();
    }
    assert_eq!(ids.drop_before(3_000).unwrap(), 1);
    assert_eq!(ids.get_since(0, &a).unwrap(), None);
    assert!(ids.get_since(0, &b).unwrap().is_some());
    assert_eq!(ids.buckets(), 1);
}

#[test]
fn a_caller_filter_skips_buckets_on_disk_but_not_unflushed_inserts() {
    let dir = tempfile::tempdir().unwrap();
    let ids = open(dir.path(), "seen", 1_000);
    let a = key(&[b"a"]);
    ids.insert(&[(1_000, a, b"old"), (5_000, a, b"new")]);
    let not_5 = |bucket| bucket != 5;
    assert_eq!(
        ids.get_since_where(0, &a, not_5).unwrap().as_deref(),
        Some(&b"new"[..]),
        "not flushed yet: found whatever the filter says"
    );
    ids.flush().unwrap();
    let found = ids.get_since_where(0, &a, not_5).unwrap();
    assert_eq!(found.as_deref(), Some(&b"old"[..]), "bucket 5 skipped");
    assert_eq!(ids.get_since_where(0, &a, |_| false).unwrap(), None);
    assert_eq!(ids.bucket_list(), vec![1, 5]);
    assert_eq!(
        (ids.bucket_len(1).unwrap(), ids.bucket_len(9).unwrap()),
        (1, 0)
    );
    let mut keys = Vec::new();
    let given = ids.for_each_key(5, |k| {
        keys.push(k.to_vec());
        true
    });
    assert_eq!((given.unwrap(), keys), (1, vec![a.to_vec()]));
}

#[test]
fn the_newest_bucket_answers_first() {
    let dir = tempfile::tempdir().unwrap();
    let ids = open(dir.path(), "seen", 1_000);
    let a = key(&[b"a"]);
    ids.insert(&[(1_000, a, b"old")]);
    ids.flush().unwrap();
    ids.insert(&[(5_000, a, b"new")]);
    assert_eq!(ids.get_since(0, &a).unwrap().as_deref(), Some(&b"new"[..]));
    ids.flush().unwrap();
    assert_eq!(ids.get_since(0, &a).unwrap().as_deref(), Some(&b"new"[..]));
}

#[test]
fn buckets_survive_a_reopen_and_other_names_are_not_ours() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(&[b"m"]);
    {
        let ids = open(dir.path(), "settled", 60_000);
        ids.insert(&[(120_000, k, b"x")]);
        ids.flush().unwrap();
    }
    let other = open(dir.path(), "seen", 60_000);
    assert_eq!(other.buckets(), 0, "another name's tables are not ours");
    assert_eq!(other.get_since(0, &k).unwrap(), None);
    drop(other);
    let ids = open(dir.path(), "settled", 60_000);
    assert_eq!(ids.buckets(), 1);
    assert!(ids.get_at(179_999, &k).unwrap().is_some());
    assert_eq!(ids.drop_before(u64::MAX).unwrap(), 1);
    ids.flush().unwrap();
    drop(ids);
    assert_eq!(open(dir.path(), "settled", 60_000).buckets(), 0);
}

/// Run by `a_crash_keeps_what_was_flushed_and_nothing_else` in a child process, which it kills.
#[test]
#[ignore = "a child process of another test"]
fn crash_child() {
    let dir = std::env::var("RECENT_CRASH_DIR").unwrap();
    let ids = open(Path::new(&dir), "seen", 1_000);
    ids.insert(&[(1_000, key(&[b"flushed"]), b"1")]);
    ids.flush().unwrap();
    // A write of the caller's own, then a flush with no inserts: it must still fsync.
    ids.write_unsynced("count", |w| {
        w.open_table(Table::new("counters"))?
            .insert(&b"c"[..], &b"1"[..])?;
        Ok(())
    })
    .unwrap();
    ids.flush().unwrap();
    ids.insert(&[(1_000, key(&[b"not flushed"]), b"2")]);
    std::process::abort();
}

#[test]
fn a_crash_keeps_what_was_flushed_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "recent::tests::crash_child"])
        .env("RECENT_CRASH_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child aborts");
    let ids = open(dir.path(), "seen", 1_000);
    assert!(ids.get_at(1_000, &key(&[b"flushed"])).unwrap().is_some());
    assert_eq!(ids.get_at(1_000, &key(&[b"not flushed"])).unwrap(), None);
    let counted = ids.with_db("read", |db| {
        let read = db.begin_read()?;
        let found = read
            .open_table(Table::new("counters"))?
            .get(&b"c"[..])?
            .is_some();
        Ok(found)
    });
    assert!(counted.unwrap(), "the caller's write was flushed");
}

#[test]
fn concurrent_flushes_and_purges_leave_the_bucket_set_true_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ids = std::sync::Arc::new(open(dir.path(), "settled", 10));
    let writer = {
        let ids = ids.clone();
        std::thread::spawn(move || {
            for i in 0..400u64 {
                // Half of them into buckets the purger is dropping.
                let at = if i % 2 == 0 { i * 10 } else { 10_000 + i };
                ids.insert(&[(at, key(&[&i.to_be_bytes()]), b"v")]);
                ids.flush().unwrap();
            }
        })
    };
    for before in (0..4_000).step_by(40) {
        ids.drop_before(before).unwrap();
    }
    writer.join().unwrap();
    ids.flush().unwrap();
    let in_memory = ids.buckets();
    drop(ids);
    assert_eq!(open(dir.path(), "settled", 10).buckets(), in_memory);
}

#[test]
fn a_lookup_never_misses_an_entry_being_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let ids = std::sync::Arc::new(open(dir.path(), "seen", 1_000));
    let last = std::sync::Arc::new(AtomicU64::new(u64::MAX));
    let writer = {
        let (ids, last) = (ids.clone(), last.clone());
        std::thread::spawn(move || {
            for i in 0..300u64 {
                ids.insert(&[(i * 100, key(&[&i.to_be_bytes()]), b"v")]);
                last.store(i, Ordering::SeqCst);
                ids.flush().unwrap();
            }
        })
    };
    let mut looked = 0;
    while !writer.is_finished() {
        let i = last.load(Ordering::SeqCst);
        if i != u64::MAX {
            let found = ids.get_at(i * 100, &key(&[&i.to_be_bytes()])).unwrap();
            assert!(found.is_some(), "entry {i} missed");
            looked += 1;
        }
    }
    writer.join().unwrap();
    assert!(looked > 0);
}
