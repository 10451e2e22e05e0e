use super::*;

const CACHE: usize = 1 << 20;

fn open(dir: &Path, name: &'static str, bucket_ms: u64) -> RecentIds {
    RecentIds::open(&dir.join("ids.redb"), name, bucket_ms, CACHE).unwrap()
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
fn keys_separate_their_parts() {
    assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
    assert_eq!(key(&[b"a", b"b"]), key(&[b"a", b"b"]));
}

#[test]
fn entries_are_found_in_their_bucket_and_dropped_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let ids = open(dir.path(), "seen", 1_000);
    let (a, b) = (key(&[b"a"]), key(&[b"b"]));
    ids.insert(&[(1_500, a, b"1"), (3_200, b, b"2")]).unwrap();
    assert_eq!(ids.get_at(1_999, &a).unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(ids.get_at(3_000, &a).unwrap(), None, "another bucket");
    assert!(ids.get_since(1_000, &a).unwrap().is_some());
    assert_eq!(ids.get_since(2_000, &a).unwrap(), None, "older than asked");
    assert_eq!(ids.drop_before(3_000).unwrap(), 1);
    assert_eq!(ids.get_since(0, &a).unwrap(), None);
    assert!(ids.get_since(0, &b).unwrap().is_some());
    assert_eq!(ids.buckets(), 1);
}

#[test]
fn the_newest_bucket_answers_first() {
    let dir = tempfile::tempdir().unwrap();
    let ids = open(dir.path(), "seen", 1_000);
    let a = key(&[b"a"]);
    ids.insert(&[(1_000, a, b"old")]).unwrap();
    ids.insert(&[(5_000, a, b"new")]).unwrap();
    assert_eq!(ids.get_since(0, &a).unwrap().as_deref(), Some(&b"new"[..]));
}

#[test]
fn flushed_buckets_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(&[b"m"]);
    {
        let ids = open(dir.path(), "settled", 60_000);
        ids.insert(&[(120_000, k, b"x")]).unwrap();
        ids.flush().unwrap();
    }
    let ids = open(dir.path(), "settled", 60_000);
    assert_eq!(ids.buckets(), 1);
    assert!(ids.get_at(179_999, &k).unwrap().is_some());
    assert_eq!(ids.drop_before(u64::MAX).unwrap(), 1);
    ids.flush().unwrap();
    drop(ids);
    let other = open(dir.path(), "seen", 60_000);
    assert_eq!(other.buckets(), 0, "another name's tables are not ours");
    drop(other);
    assert_eq!(open(dir.path(), "settled", 60_000).buckets(), 0);
}

#[test]
fn an_older_builds_sled_store_is_imported_then_removed() {
    let dir = tempfile::tempdir().unwrap();
    let old_dir = dir.path().join("ingest");
    let (a, b) = (key(&[b"a"]), key(&[b"b"]));
    {
        let old = crate::store::open(&old_dir, CACHE as u64).unwrap();
        old.open_tree("seen/3").unwrap().insert(a, b"3000").unwrap();
        old.open_tree("seen/4").unwrap().insert(b, b"4000").unwrap();
        old.open_tree("counters")
            .unwrap()
            .insert("c", b"7")
            .unwrap();
        old.open_tree("by_time").unwrap().insert("x", b"y").unwrap();
        old.flush().unwrap();
    }
    let ids = open(dir.path(), "seen", 1_000);
    assert_eq!(ids.import_sled(&old_dir, &["counters"]).unwrap(), 3);
    assert!(!old_dir.exists(), "the old folder is removed");
    assert_eq!(ids.buckets(), 2);
    assert_eq!(
        ids.get_at(3_500, &a).unwrap().as_deref(),
        Some(&b"3000"[..])
    );
    assert!(ids.get_since(4_000, &b).unwrap().is_some());
    let read = ids.database().begin_read().unwrap();
    let counters = read.open_table(Table::new("counters")).unwrap();
    assert_eq!(counters.get(&b"c"[..]).unwrap().unwrap().value(), b"7");
    assert!(
        read.open_table(Table::new("by_time")).is_err(),
        "not asked for"
    );
    assert_eq!(ids.import_sled(&old_dir, &[]).unwrap(), 0, "nothing left");
}
