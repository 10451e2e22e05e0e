//! Unit tests of the device store: the moves a device makes between owners, and lookups.

use super::*;

/// Runs `check` on a new store.
fn with_store(check: impl Fn(&dyn DeviceStore)) {
    let dir = tempfile::tempdir().unwrap();
    check(&RedbDevices::open(&dir.path().join("devices.redb"), 1 << 20).unwrap());
}

#[test]
fn same_token_same_push_id() {
    with_store(|s| {
        let (a, new_a) = s.register("app", Vendor::Fcm, "tok", None, None).unwrap();
        let (b, new_b) = s.register("app", Vendor::Fcm, "tok", None, None).unwrap();
        assert_eq!(a, b);
        assert!(new_a && !new_b);
        let (c, _) = s.register("other", Vendor::Fcm, "tok", None, None).unwrap();
        assert_ne!(a, c, "apps are separate");
    });
}

#[test]
fn binding_moves_device_between_users() {
    with_store(|s| {
        let (p, _) = s.register("app", Vendor::Fcm, "tok", None, None).unwrap();
        s.bind("app", &p, "alice").unwrap();
        assert_eq!(s.devices_of("app", "alice").unwrap().len(), 1);
        s.bind("app", &p, "bob").unwrap();
        assert!(s.devices_of("app", "alice").unwrap().is_empty());
        assert_eq!(s.devices_of("app", "bob").unwrap()[0].push_id, p);
        assert!(
            !s.unbind("app", &p, Some("alice")).unwrap(),
            "alice's late logout keeps bob"
        );
        assert!(s.unbind("app", &p, Some("bob")).unwrap());
        assert!(s.devices_of("app", "bob").unwrap().is_empty());
    });
}

#[test]
fn user_prefix_does_not_leak_to_longer_ids() {
    with_store(|s| {
        let (p, _) = s.register("app", Vendor::Fcm, "tok", None, None).unwrap();
        s.bind("app", &p, "al").unwrap();
        assert!(s.devices_of("app", "a").unwrap().is_empty());
        assert_eq!(s.devices_of("app", "al").unwrap().len(), 1);
    });
}

#[test]
fn invalid_token_removal_respects_rotation() {
    with_store(|s| {
        let (p, _) = s.register("app", Vendor::Fcm, "old", None, None).unwrap();
        s.bind("app", &p, "alice").unwrap();
        let rotated = s.update_token("app", &p, "new").unwrap();
        assert_eq!(rotated.token_gen, 2);
        assert!(
            !s.remove("app", &p, Some(1)).unwrap(),
            "stale answer about the old token"
        );
        assert_eq!(s.devices_of("app", "alice").unwrap().len(), 1);
        assert!(s.remove("app", &p, Some(2)).unwrap());
        assert!(s.devices_of("app", "alice").unwrap().is_empty());
        let (p2, new) = s.register("app", Vendor::Fcm, "new", None, None).unwrap();
        assert!(new && p2 != p, "the token index went with the device");
    });
}

#[test]
fn a_device_is_found_by_push_id_and_by_its_owner_only() {
    with_store(|s| {
        let (p, _) = s.register("app", Vendor::Fcm, "tok", None, None).unwrap();
        assert_eq!(s.get("app", &p).unwrap().unwrap().user_id, None);
        assert!(
            s.devices_of("app", "").unwrap().is_empty(),
            "unbound is nobody's"
        );
        s.bind("app", &p, "alice").unwrap();
        let (q, _) = s.register("app", Vendor::Apns, "tok2", None, None).unwrap();
        s.bind("app", &q, "alice").unwrap();
        s.bind("other", &p, "alice").unwrap_err();
        let got = s.get("app", &p).unwrap().unwrap();
        assert_eq!(got.user_id.as_deref(), Some("alice"));
        assert_eq!(s.devices_of("app", "alice").unwrap().len(), 2);
        assert!(s.devices_of("other", "alice").unwrap().is_empty());
        assert!(s.remove("app", &p, None).unwrap());
        assert_eq!(s.get("app", &p).unwrap(), None);
        assert_eq!(s.devices_of("app", "alice").unwrap()[0].push_id, q);
    });
}

#[test]
fn unknown_device_is_not_found() {
    with_store(|s| {
        assert!(matches!(
            s.bind("app", "nope", "u"),
            Err(StoreError::NotFound(_))
        ));
        let (p, _) = s.register("app", Vendor::Fcm, "a", None, None).unwrap();
        s.register("app", Vendor::Fcm, "b", None, None).unwrap();
        assert!(matches!(
            s.update_token("app", &p, "b"),
            Err(StoreError::TokenTaken(_))
        ));
    });
}

/// An existing file is taken over as it is: its format mark, its tables, push ids in the form
/// they were handed out. (A clean close keeps even unflushed changes, so what a flush adds
/// against a crash is shown by the e2e test `sigkill_of_registry_loses_and_doubles_nothing`.)
#[test]
fn devices_are_there_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.redb");
    let s = RedbDevices::open(&path, 1 << 20).unwrap();
    let (p, _) = s.register("app", Vendor::Fcm, "tok", None, None).unwrap();
    s.bind("app", &p, "alice").unwrap();
    s.flush().unwrap();
    drop(s);
    let s = RedbDevices::open(&path, 1 << 20).unwrap();
    assert_eq!(s.devices_of("app", "alice").unwrap()[0].push_id, p);
    assert_eq!(
        s.get("app", &p).unwrap().unwrap().user_id.as_deref(),
        Some("alice")
    );
    assert_eq!(
        s.register("app", Vendor::Fcm, "tok", None, None).unwrap(),
        (p.clone(), false),
        "the token index was kept"
    );
    assert_eq!(p.len(), 32, "push ids keep the form they had: {p}");
}

#[test]
fn a_push_id_not_of_our_form_is_not_found() {
    with_store(|s| {
        let (p, _) = s.register("app", Vendor::Fcm, "tok", None, None).unwrap();
        let upper = p.to_uppercase();
        assert!(matches!(
            s.bind("app", &upper, "u"),
            Err(StoreError::NotFound(id)) if id == upper
        ));
        assert_eq!(s.get("app", &upper).unwrap(), None);
        assert!(!s.remove("app", &upper, None).unwrap());
    });
}

#[test]
fn a_file_a_newer_build_wrote_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.redb");
    drop(RedbDevices::open(&path, 1 << 20).unwrap());
    {
        let db = redb::Database::create(&path).unwrap();
        let w = db.begin_write().unwrap();
        w.open_table(redb::TableDefinition::<&[u8], &[u8]>::new("meta"))
            .unwrap()
            .insert(b"format".as_slice(), [7u8].as_slice())
            .unwrap();
        w.commit().unwrap();
    }
    let err = RedbDevices::open(&path, 1 << 20).err().expect("opened");
    assert!(
        err.to_string()
            .contains("it is format 7, and this build reads format 6"),
        "{err}"
    );
}
