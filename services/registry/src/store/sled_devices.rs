//! The devices in sled, as builds before change 17 kept them: what an upgraded registry imports
//! from (`store/import.rs`). Opening it brings formats 1 and 2 to format 3 (`upgrade.rs`);
//! nothing else writes to it.

mod upgrade;

use super::{corrupt, key, token_key, Device, Record, StoreError};
use pushmesh_contract::codec;
use pushmesh_runtime::store;
use serde::{Deserialize, Serialize};
use std::path::Path;

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// One entry of a user's device list.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Owned {
    push_id: String,
    record: Record,
}

/// Format 3: a user's devices are one value under the user.
pub struct SledDevices {
    db: sled::Db,
    /// app \0 user -> [Owned]: the user's devices, one entry each.
    users: sled::Tree,
    /// app \0 push_id -> Record, for devices bound to nobody.
    unbound: sled::Tree,
    /// app \0 push_id -> user (empty when unbound): where to find a device by its push_id.
    owners: sled::Tree,
    /// app \0 vendor \0 hash(token) -> push_id (see [`token_key`])
    tokens: sled::Tree,
}

impl SledDevices {
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let db = store::open(dir, cache_bytes)?;
        let store = SledDevices {
            users: db.open_tree("user_devices")?,
            unbound: db.open_tree("unbound_devices")?,
            owners: db.open_tree("owners")?,
            tokens: db.open_tree("tokens")?,
            db,
        };
        upgrade::to_current(&store)?;
        Ok(store)
    }

    /// Files `device` in the format-3 trees: its owner entry, its token index entry, and the
    /// device under its user (or among the unbound). Not transactional: the rewrite of an older
    /// format that calls it starts again from scratch if it is cut short.
    fn file(&self, app_id: &str, device: Device) -> Result<(), StoreError> {
        let (push_id, owner, record) = Record::split(device);
        self.tokens.insert(
            token_key(app_id, record.vendor, &record.token),
            push_id.as_bytes(),
        )?;
        self.owners
            .insert(key(&[app_id, &push_id]), owner.as_bytes())?;
        if owner.is_empty() {
            self.unbound
                .insert(key(&[app_id, &push_id]), codec::encode(&record))?;
            return Ok(());
        }
        let user_key = key(&[app_id, &owner]);
        let mut list: Vec<Owned> = match self.users.get(&user_key)? {
            Some(v) => codec::decode(&v).map_err(corrupt)?,
            None => Vec::new(),
        };
        list.retain(|d| d.push_id != push_id);
        list.push(Owned { push_id, record });
        self.users.insert(user_key, codec::encode(&list))?;
        Ok(())
    }

    /// Calls `f` with every device in the store and its app, for the import into redb;
    /// returns how many there were.
    pub(super) fn for_each(
        &self,
        mut f: impl FnMut(&str, Device) -> Result<(), StoreError>,
    ) -> Result<usize, StoreError> {
        let mut count = 0;
        for entry in self.users.iter() {
            let (k, v) = entry?;
            let (app_id, user) = split_key(&k)?;
            let list: Vec<Owned> = codec::decode(&v).map_err(corrupt)?;
            for d in list {
                f(&app_id, d.record.into_device(d.push_id, &user))?;
                count += 1;
            }
        }
        for entry in self.unbound.iter() {
            let (k, v) = entry?;
            let (app_id, push_id) = split_key(&k)?;
            let record: Record = codec::decode(&v).map_err(corrupt)?;
            f(&app_id, record.into_device(push_id, ""))?;
            count += 1;
        }
        Ok(count)
    }
}

/// `app \0 rest` back into its two parts (an app id holds no `\0`).
fn split_key(k: &[u8]) -> Result<(String, String), StoreError> {
    let text =
        std::str::from_utf8(k).map_err(|_| StoreError::Io("a key that is not UTF-8".into()))?;
    text.split_once('\0')
        .map(|(app, rest)| (app.to_owned(), rest.to_owned()))
        .ok_or_else(|| StoreError::Io(format!("a key without its app: `{text}`")))
}

/// Writes the devices an older build would have left, for the tests of the upgrade and the
/// import.
#[cfg(test)]
pub(super) fn write_fixture(dir: &Path, devices: &[(&str, Device)]) {
    let s = SledDevices::open(dir, 1 << 20).unwrap();
    for (app_id, device) in devices {
        s.file(app_id, device.clone()).unwrap();
    }
    s.db.flush().unwrap();
}

#[cfg(test)]
impl SledDevices {
    /// Every device, as (app, device), in the order [`SledDevices::for_each`] gives them.
    pub(super) fn all(&self) -> Vec<(String, Device)> {
        let mut out = Vec::new();
        self.for_each(|app_id, d| {
            out.push((app_id.to_owned(), d));
            Ok(())
        })
        .unwrap();
        out
    }
}
