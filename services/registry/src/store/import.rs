//! Importing, once, the sled store a build before change 17 (docs/benchmarks.md) kept.

use super::{Device, DeviceStore, RedbDevices, SledDevices, StoreError};
use pushmesh_runtime::store;
use std::path::Path;

/// Devices copied in one write transaction. redb cannot reuse the pages a transaction frees
/// while it runs, so a big one leaves the file larger: 300,000 devices took 950 bytes a device
/// in chunks of 10,000, 475 in chunks of 1,000 (at 15,900 devices/s on 2 cores).
const CHUNK: usize = 1_000;

/// If `dir` holds an older build's sled store (formats 1 to 3), copies its devices into `into`,
/// makes that durable, then moves `dir` aside and removes it; returns how many devices came
/// over. A crash before the move imports again at the next start: each device is filed under
/// its push id, so the second copy replaces the first.
pub(super) fn from_sled(into: &RedbDevices, dir: &Path) -> Result<usize, StoreError> {
    store::remove_imported(dir);
    if !dir.join("conf").exists() {
        return Ok(0);
    }
    let import_error = |cause: String| StoreError::Import {
        path: dir.display().to_string(),
        cause,
    };
    // Opening it brings formats 1 and 2 to 3 first (`sled_devices/upgrade.rs`).
    let old = SledDevices::open(dir, 1 << 20).map_err(|e| import_error(e.to_string()))?;
    let mut chunk = Vec::with_capacity(CHUNK);
    let count = old
        .for_each(|app_id, device| {
            chunk.push((app_id.to_owned(), device));
            if chunk.len() == CHUNK {
                copy(into, &mut chunk)?;
            }
            Ok(())
        })
        .and_then(|count| copy(into, &mut chunk).map(|()| count))
        .map_err(|e| import_error(e.to_string()))?;
    drop(old);
    store::retire(dir).map_err(|e| import_error(format!("moving it aside: {e}")))?;
    Ok(count)
}

/// One transaction, then a durable commit: redb reuses the pages a commit frees only after a
/// durable one.
fn copy(into: &RedbDevices, chunk: &mut Vec<(String, Device)>) -> Result<(), StoreError> {
    into.write(|t| {
        for (app_id, device) in chunk.drain(..) {
            t.restore(&app_id, device)?;
        }
        Ok(())
    })?;
    into.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushmesh_contract::Vendor;

    /// An older build's store: devices of two apps, bound and unbound, one with a rotated token.
    fn write_sled_store(dir: &Path) -> Vec<String> {
        let id = || uuid::Uuid::new_v4().simple().to_string();
        let device = |token: &str, vendor, user: Option<&str>| Device {
            push_id: id(),
            vendor,
            token: token.into(),
            package: None,
            platform: None,
            user_id: user.map(Into::into),
            token_gen: 1,
            updated_ms: 1_700_000_000_000,
        };
        let a = device("tok-a", Vendor::Fcm, Some("alice"));
        let b = Device {
            package: Some("com.x".into()),
            token_gen: 2,
            ..device("tok-b2", Vendor::Apns, Some("alice"))
        };
        let c = device("tok-c", Vendor::Huawei, None);
        let d = device("tok-a", Vendor::Fcm, Some("alice"));
        let ids = [&a, &b, &c, &d].map(|d| d.push_id.clone()).to_vec();
        super::super::sled_devices::write_fixture(
            dir,
            &[("app", a), ("app", b), ("app", c), ("other", d)],
        );
        ids
    }

    #[test]
    fn an_older_sled_store_is_imported_once_and_its_folder_removed() {
        let data = tempfile::tempdir().unwrap();
        let sled_dir = data.path().join("registry-0");
        let [a, b, c, d] = <[String; 4]>::try_from(write_sled_store(&sled_dir)).unwrap();

        let store = super::super::open(data.path(), 0, 1 << 20).unwrap();
        assert!(!sled_dir.exists(), "the sled folder stays after its import");
        assert!(!data.path().join("registry-0.imported").exists());
        let alice: Vec<_> = store.devices_of("app", "alice").unwrap();
        let ids: Vec<_> = alice.iter().map(|d| d.push_id.as_str()).collect();
        assert_eq!(ids, [a.as_str(), b.as_str()]);
        let rotated = &alice[1];
        assert_eq!(
            (rotated.vendor, rotated.token.as_str(), rotated.token_gen),
            (Vendor::Apns, "tok-b2", 2)
        );
        assert_eq!(rotated.package.as_deref(), Some("com.x"));
        assert_eq!(store.get("app", &c).unwrap().unwrap().user_id, None);
        assert_eq!(store.devices_of("other", "alice").unwrap()[0].push_id, d);
        // The token index came over: the same token gives the same device, a taken one is refused.
        assert_eq!(
            store
                .register("app", Vendor::Apns, "tok-b2", None, None)
                .unwrap(),
            (b.clone(), false)
        );
        assert!(
            store
                .register("app", Vendor::Apns, "tok-b", None, None)
                .unwrap()
                .1
        );
        let (z, _) = store
            .register("app", Vendor::Fcm, "tok-z", None, None)
            .unwrap();
        assert!(matches!(
            store.update_token("app", &z, "tok-a"),
            Err(StoreError::TokenTaken(id)) if id == a
        ));
        drop(store);

        let again = super::super::open(data.path(), 0, 1 << 20).unwrap();
        assert_eq!(again.devices_of("app", "alice").unwrap().len(), 2);
    }

    #[test]
    fn an_import_cut_short_before_the_move_is_made_again_without_doubles() {
        let data = tempfile::tempdir().unwrap();
        let sled_dir = data.path().join("registry-0");
        let ids = write_sled_store(&sled_dir);
        let redb = RedbDevices::open(&data.path().join("registry-0.redb"), 1 << 20).unwrap();
        // What a crash between the copy and the move leaves: the devices in both stores.
        let backup = data.path().join("copy");
        copy_dir(&sled_dir, &backup);
        assert_eq!(from_sled(&redb, &sled_dir).unwrap(), 4);
        std::fs::rename(&backup, &sled_dir).unwrap();
        assert_eq!(from_sled(&redb, &sled_dir).unwrap(), 4);
        let alice = redb.devices_of("app", "alice").unwrap();
        assert_eq!(alice.len(), 2, "{alice:?}");
        assert_eq!(alice[0].push_id, ids[0]);
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
}
