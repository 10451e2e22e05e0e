//! Brings a store written by an older release to the current format, on open.
//!
//! Formats 1 and 2 kept each device under `app \0 push_id` in a `devices` tree (the whole device,
//! owner included) with a `users` index beside it, so resolving a user was a scan of one tree and
//! a read of another per device; format 1 also keyed the token index by the whole token. Both are rewritten into format 3 from the old
//! `devices` tree alone, which holds everything.

use super::{Device, SledDevices, StoreError};
use pushmesh_contract::{codec, Vendor};
use serde::{Deserialize, Serialize};

/// The on-disk format this code writes, kept under `FORMAT_KEY` in the default tree.
const FORMAT: u8 = 3;
const FORMAT_KEY: &[u8] = b"pushmesh-registry-format";
/// Set while a rewrite is under way, so an interrupted one is told apart from a rollback.
const REWRITING_KEY: &[u8] = b"pushmesh-registry-rewriting";
const LEGACY_DEVICES: &str = "devices";
const LEGACY_USERS: &str = "users";

/// A device record of formats 1 and 2 (field order is the bincode layout: do not reorder).
#[derive(Serialize, Deserialize)]
struct LegacyDevice {
    push_id: String,
    vendor: Vendor,
    token: String,
    package: Option<String>,
    platform: Option<String>,
    user_id: Option<String>,
    token_gen: u64,
    updated_ms: u64,
}

pub(super) fn to_current(s: &SledDevices) -> Result<(), StoreError> {
    match s.db.get(FORMAT_KEY)?.as_deref() {
        Some(&[mark]) if mark == FORMAT => return Ok(()),
        Some(&[mark]) if mark > FORMAT => {
            return Err(StoreError::Format(format!(
                "it is format {mark}, and this build reads formats 1 to {FORMAT}: \
                 run a build at least as new as the one that wrote it"
            )))
        }
        _ => {}
    }
    let legacy =
        s.db.tree_names()
            .iter()
            .any(|name| name.as_ref() == LEGACY_DEVICES.as_bytes());
    if legacy {
        // Format-3 devices beside legacy ones, with no rewrite under way, mean an older build
        // ran on this store after the upgrade (a rollback): rewriting would drop the devices
        // registered before it.
        if !s.owners.is_empty() && s.db.get(REWRITING_KEY)?.is_none() {
            return Err(StoreError::Format(format!(
                "it holds format-{FORMAT} devices and devices an older build wrote after them \
                 (a rollback?); restore data_dir/registry-<shard> from the copy taken before the \
                 upgrade (docs/operations.md, Upgrading stored data)"
            )));
        }
        s.db.insert(REWRITING_KEY, &[FORMAT])?;
        s.db.flush()?;
        let moved = rewrite(s)?;
        tracing::info!(
            devices = moved,
            "registry store rewritten to format {FORMAT}"
        );
    }
    s.db.insert(FORMAT_KEY, &[FORMAT])?;
    s.db.remove(REWRITING_KEY)?;
    s.db.flush()?;
    Ok(())
}

/// Copies every legacy device into the current trees, makes that durable, then drops the legacy
/// trees. A crash part-way leaves the legacy `devices` tree and no format mark, so the next open
/// starts the copy again from scratch.
fn rewrite(s: &SledDevices) -> Result<usize, StoreError> {
    let old = s.db.open_tree(LEGACY_DEVICES)?;
    for tree in [&s.users, &s.unbound, &s.owners, &s.tokens] {
        tree.clear()?;
    }
    let mut moved = 0usize;
    for entry in old.iter() {
        let (k, v) = entry?;
        let d: LegacyDevice =
            codec::decode(&v).map_err(|e| StoreError::Io(format!("corrupt device record: {e}")))?;
        let app_id = String::from_utf8_lossy(k.split(|b| *b == 0).next().unwrap_or(&[]));
        let device = Device {
            push_id: d.push_id,
            vendor: d.vendor,
            token: d.token,
            package: d.package,
            platform: d.platform,
            user_id: d.user_id,
            token_gen: d.token_gen,
            updated_ms: d.updated_ms,
        };
        s.file(&app_id, device)?;
        moved += 1;
    }
    s.db.flush()?;
    s.db.drop_tree(LEGACY_USERS)?;
    s.db.drop_tree(LEGACY_DEVICES)?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{key, token_key};
    use pushmesh_runtime::store;

    /// What format 1 left on disk: alice's device and an unbound one, a users index, the token
    /// index keyed by the whole token, no format mark.
    fn write_format_1(dir: &std::path::Path) {
        let db = store::open(dir, 1 << 20).unwrap();
        let devices = db.open_tree(LEGACY_DEVICES).unwrap();
        let users = db.open_tree(LEGACY_USERS).unwrap();
        let tokens = db.open_tree("tokens").unwrap();
        for (push_id, token, user) in [("p1", "tok-1", Some("alice")), ("p2", "tok-2", None)] {
            let device = LegacyDevice {
                push_id: push_id.into(),
                vendor: Vendor::Fcm,
                token: token.into(),
                package: Some("com.example".into()),
                platform: None,
                user_id: user.map(str::to_owned),
                token_gen: 3,
                updated_ms: 7,
            };
            devices
                .insert(key(&["app", push_id]), codec::encode(&device))
                .unwrap();
            if let Some(user) = user {
                users.insert(key(&["app", user, push_id]), &[]).unwrap();
            }
            tokens
                .insert(key(&["app", "fcm", token]), push_id.as_bytes())
                .unwrap();
        }
        db.flush().unwrap();
    }

    #[test]
    fn a_format_1_store_is_rewritten_on_open() {
        let dir = tempfile::tempdir().unwrap();
        write_format_1(dir.path());
        let s = SledDevices::open(dir.path(), 1 << 20).unwrap();

        let all = s.all();
        let [(app_a, alice), (app_b, unbound)] = <[(String, Device); 2]>::try_from(all.clone())
            .unwrap_or_else(|all| panic!("two devices: {all:?}"));
        assert_eq!((app_a.as_str(), app_b.as_str()), ("app", "app"));
        assert_eq!(
            (alice.push_id.as_str(), alice.token.as_str()),
            ("p1", "tok-1")
        );
        assert_eq!(alice.user_id.as_deref(), Some("alice"));
        assert_eq!(alice.package.as_deref(), Some("com.example"));
        assert_eq!(alice.token_gen, 3, "token generation kept");
        assert_eq!((unbound.push_id.as_str(), unbound.user_id), ("p2", None));
        let by_token = s
            .tokens
            .get(token_key("app", Vendor::Fcm, "tok-2"))
            .unwrap();
        assert_eq!(
            by_token.as_deref(),
            Some(b"p2".as_slice()),
            "found by its token"
        );
        assert_eq!(s.tokens.len(), 2, "the whole-token keys are gone");
        let names = s.db.tree_names();
        assert!(
            !names.iter().any(|n| n.as_ref() == LEGACY_DEVICES.as_bytes()
                || n.as_ref() == LEGACY_USERS.as_bytes()),
            "legacy trees dropped"
        );
        drop(s);
        let again = SledDevices::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(again.all(), all, "reopens as format 3");
    }

    #[test]
    fn an_older_build_run_after_the_upgrade_is_refused_not_wiped() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device {
            push_id: "p1".into(),
            vendor: Vendor::Fcm,
            token: "tok".into(),
            package: None,
            platform: None,
            user_id: Some("alice".into()),
            token_gen: 1,
            updated_ms: 1,
        };
        super::super::write_fixture(dir.path(), &[("app", device)]);
        {
            // What a format-2 build does on opening it: its own trees, its own mark.
            let db = store::open(dir.path(), 1 << 20).unwrap();
            db.open_tree(LEGACY_DEVICES).unwrap();
            db.open_tree(LEGACY_USERS).unwrap();
            db.insert(FORMAT_KEY, &[2]).unwrap();
            db.flush().unwrap();
        }
        let refused = SledDevices::open(dir.path(), 1 << 20)
            .err()
            .expect("refused");
        assert!(refused.to_string().contains("rollback"), "{refused}");
        let db = store::open(dir.path(), 1 << 20).unwrap();
        let owners = db.open_tree("owners").unwrap();
        assert!(
            owners.get(key(&["app", "p1"])).unwrap().is_some(),
            "nothing wiped"
        );
    }

    #[test]
    fn a_newer_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = store::open(dir.path(), 1 << 20).unwrap();
            db.insert(FORMAT_KEY, &[FORMAT + 1]).unwrap();
            db.flush().unwrap();
        }
        let refused = SledDevices::open(dir.path(), 1 << 20)
            .err()
            .expect("refused");
        assert!(
            refused
                .to_string()
                .contains(&format!("format {}", FORMAT + 1)),
            "{refused}"
        );
    }
}
