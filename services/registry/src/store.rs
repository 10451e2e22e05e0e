//! Devices and bindings, behind the [`DeviceStore`] trait; [`SledDevices`] keeps them in sled.
//!
//! One device belongs to one user at a time. Every change is one multi-tree transaction, so a
//! crash never leaves a binding without its device or a token index without its device.

use pushmesh_contract::{codec, now_ms, Vendor};
use pushmesh_runtime::{recent, store};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub push_id: String,
    pub vendor: Vendor,
    pub token: String,
    pub package: Option<String>,
    pub platform: Option<String>,
    pub user_id: Option<String>,
    /// Bumped when the token changes; see `DevicePush::token_gen`.
    pub token_gen: u64,
    pub updated_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("device `{0}` is not registered")]
    NotFound(String),
    #[error("that token is already registered as device `{0}`")]
    TokenTaken(String),
    #[error(transparent)]
    Open(#[from] store::OpenError),
    #[error("device store failed: {0}")]
    Io(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

/// What the registry needs from storage. Each write is atomic; it is durable once [`flush`]
/// returns, which callers do before they answer or ack (one flush per batch, not per write).
///
/// [`flush`]: DeviceStore::flush
pub trait DeviceStore: Send + Sync {
    /// Registers a token; the same (vendor, token) gives the same push_id again.
    /// Returns the push_id and whether it is new.
    fn register(
        &self,
        app_id: &str,
        vendor: Vendor,
        token: &str,
        package: Option<String>,
        platform: Option<String>,
    ) -> Result<(String, bool), StoreError>;
    /// The vendor rotated the device's token.
    fn update_token(&self, app_id: &str, push_id: &str, token: &str) -> Result<Device, StoreError>;
    /// Binds the device to `user_id`, unbinding it from whoever had it.
    fn bind(&self, app_id: &str, push_id: &str, user_id: &str) -> Result<(), StoreError>;
    /// Unbinds the device; with `only_from`, only if that user is the one bound (a late logout
    /// of user A must not unbind user B who logged in since).
    fn unbind(
        &self,
        app_id: &str,
        push_id: &str,
        only_from: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Deletes the device. With `if_token_gen`, only if its token has not changed since.
    fn remove(
        &self,
        app_id: &str,
        push_id: &str,
        if_token_gen: Option<u64>,
    ) -> Result<bool, StoreError>;
    fn devices_of(&self, app_id: &str, user_id: &str) -> Result<Vec<Device>, StoreError>;
    fn get(&self, app_id: &str, push_id: &str) -> Result<Option<Device>, StoreError>;
    fn flush(&self) -> Result<(), StoreError>;
}

pub struct SledDevices {
    db: sled::Db,
    /// app \0 push_id -> Device
    devices: sled::Tree,
    /// app \0 vendor \0 hash(token) -> push_id (see [`token_key`])
    tokens: sled::Tree,
    /// app \0 user \0 push_id -> ()
    users: sled::Tree,
}

fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

/// The token index holds a 16-byte hash of the token, not the token: vendor tokens run to 160
/// bytes and more, and the device record keeps the token itself. (Format 2; format 1 keyed the
/// index by the whole token and is rebuilt on open, see [`SledDevices::open`].)
fn token_key(app_id: &str, vendor: Vendor, token: &str) -> Vec<u8> {
    let mut k = key(&[app_id, vendor.as_str(), ""]);
    k.extend_from_slice(&recent::key(&[token.as_bytes()]));
    k
}

/// The on-disk format this code writes, kept under `FORMAT_KEY` in the default tree.
const FORMAT: u8 = 2;
const FORMAT_KEY: &[u8] = b"pushmesh-registry-format";

type Tx = ConflictableTransactionError<StoreError>;

fn abort<T>(e: StoreError) -> Result<T, Tx> {
    Err(ConflictableTransactionError::Abort(e))
}

fn read_device(tree: &TransactionalTree, k: &[u8]) -> Result<Option<Device>, Tx> {
    match tree.get(k)? {
        None => Ok(None),
        Some(v) => codec::decode(&v)
            .map(Some)
            .or_else(|e| abort(StoreError::Io(format!("corrupt device record: {e}")))),
    }
}

impl SledDevices {
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let db = store::open(dir, cache_bytes)?;
        SledDevices {
            devices: db.open_tree("devices")?,
            tokens: db.open_tree("tokens")?,
            users: db.open_tree("users")?,
            db,
        }
        .upgraded()
    }

    /// Rebuilds the token index from the device records when the store predates format 2.
    fn upgraded(self) -> Result<Self, StoreError> {
        if self.db.get(FORMAT_KEY)?.as_deref() == Some(&[FORMAT][..]) {
            return Ok(self);
        }
        self.tokens.clear()?;
        let mut rebuilt = 0usize;
        for entry in self.devices.iter() {
            let (k, v) = entry?;
            let device: Device = codec::decode(&v)
                .map_err(|e| StoreError::Io(format!("corrupt device record: {e}")))?;
            let app_id = String::from_utf8_lossy(k.split(|b| *b == 0).next().unwrap_or(&[]));
            self.tokens.insert(
                token_key(&app_id, device.vendor, &device.token),
                device.push_id.as_bytes(),
            )?;
            rebuilt += 1;
        }
        self.db.insert(FORMAT_KEY, &[FORMAT])?;
        self.db.flush()?;
        if rebuilt > 0 {
            tracing::info!(
                devices = rebuilt,
                "registry token index rebuilt for format 2"
            );
        }
        Ok(self)
    }

    fn transact<T>(
        &self,
        f: impl Fn(&TransactionalTree, &TransactionalTree, &TransactionalTree) -> Result<T, Tx>,
    ) -> Result<T, StoreError> {
        Ok((&self.devices, &self.tokens, &self.users).transaction(|(d, t, u)| f(d, t, u))?)
    }
}

impl DeviceStore for SledDevices {
    fn register(
        &self,
        app_id: &str,
        vendor: Vendor,
        token: &str,
        package: Option<String>,
        platform: Option<String>,
    ) -> Result<(String, bool), StoreError> {
        let token_key = token_key(app_id, vendor, token);
        let fresh_id = uuid::Uuid::new_v4().simple().to_string();
        self.transact(|d, t, _| {
            if let Some(existing) = t.get(&token_key)? {
                return Ok((String::from_utf8_lossy(&existing).into_owned(), false));
            }
            let device = Device {
                push_id: fresh_id.clone(),
                vendor,
                token: token.to_owned(),
                package: package.clone(),
                platform: platform.clone(),
                user_id: None,
                token_gen: 1,
                updated_ms: now_ms(),
            };
            d.insert(key(&[app_id, &fresh_id]), codec::encode(&device))?;
            t.insert(token_key.as_slice(), fresh_id.as_bytes())?;
            Ok((fresh_id.clone(), true))
        })
    }

    fn update_token(&self, app_id: &str, push_id: &str, token: &str) -> Result<Device, StoreError> {
        let dk = key(&[app_id, push_id]);
        self.transact(|d, t, _| {
            let Some(mut device) = read_device(d, &dk)? else {
                return abort(StoreError::NotFound(push_id.to_owned()));
            };
            if device.token == token {
                return Ok(device);
            }
            let new_key = token_key(app_id, device.vendor, token);
            if let Some(other) = t.get(&new_key)? {
                return abort(StoreError::TokenTaken(
                    String::from_utf8_lossy(&other).into_owned(),
                ));
            }
            t.remove(token_key(app_id, device.vendor, &device.token))?;
            t.insert(new_key, push_id.as_bytes())?;
            device.token = token.to_owned();
            device.token_gen += 1;
            device.updated_ms = now_ms();
            d.insert(dk.as_slice(), codec::encode(&device))?;
            Ok(device)
        })
    }

    fn bind(&self, app_id: &str, push_id: &str, user_id: &str) -> Result<(), StoreError> {
        let dk = key(&[app_id, push_id]);
        self.transact(|d, _, u| {
            let Some(mut device) = read_device(d, &dk)? else {
                return abort(StoreError::NotFound(push_id.to_owned()));
            };
            if let Some(previous) = &device.user_id {
                u.remove(key(&[app_id, previous, push_id]))?;
            }
            u.insert(key(&[app_id, user_id, push_id]), &[])?;
            device.user_id = Some(user_id.to_owned());
            device.updated_ms = now_ms();
            d.insert(dk.as_slice(), codec::encode(&device))?;
            Ok(())
        })
    }

    fn unbind(
        &self,
        app_id: &str,
        push_id: &str,
        only_from: Option<&str>,
    ) -> Result<bool, StoreError> {
        let dk = key(&[app_id, push_id]);
        self.transact(|d, _, u| {
            let Some(mut device) = read_device(d, &dk)? else {
                return abort(StoreError::NotFound(push_id.to_owned()));
            };
            let Some(bound) = device.user_id.clone() else {
                return Ok(false);
            };
            if only_from.is_some_and(|user| user != bound) {
                return Ok(false);
            }
            u.remove(key(&[app_id, &bound, push_id]))?;
            device.user_id = None;
            device.updated_ms = now_ms();
            d.insert(dk.as_slice(), codec::encode(&device))?;
            Ok(true)
        })
    }

    fn remove(
        &self,
        app_id: &str,
        push_id: &str,
        if_token_gen: Option<u64>,
    ) -> Result<bool, StoreError> {
        let dk = key(&[app_id, push_id]);
        self.transact(|d, t, u| {
            let Some(device) = read_device(d, &dk)? else {
                return Ok(false);
            };
            if if_token_gen.is_some_and(|gen| gen != device.token_gen) {
                return Ok(false);
            }
            if let Some(user) = &device.user_id {
                u.remove(key(&[app_id, user, push_id]))?;
            }
            t.remove(token_key(app_id, device.vendor, &device.token))?;
            d.remove(dk.as_slice())?;
            Ok(true)
        })
    }

    fn devices_of(&self, app_id: &str, user_id: &str) -> Result<Vec<Device>, StoreError> {
        let mut prefix = key(&[app_id, user_id]);
        prefix.push(0);
        let mut out = Vec::new();
        for entry in self.users.scan_prefix(&prefix) {
            let (k, _) = entry?;
            let push_id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            // The binding and the device are written together, but check the owner anyway:
            // a push to another user's phone is the one mistake this service must never make.
            if let Some(device) = self.get(app_id, &push_id)? {
                if device.user_id.as_deref() == Some(user_id) {
                    out.push(device);
                }
            }
        }
        Ok(out)
    }

    fn get(&self, app_id: &str, push_id: &str) -> Result<Option<Device>, StoreError> {
        match self.devices.get(key(&[app_id, push_id]))? {
            None => Ok(None),
            Some(v) => codec::decode(&v)
                .map(Some)
                .map_err(|e| StoreError::Io(format!("corrupt device record: {e}"))),
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SledDevices) {
        let dir = tempfile::tempdir().unwrap();
        let s = SledDevices::open(dir.path(), 1 << 20).unwrap();
        (dir, s)
    }

    #[test]
    fn same_token_same_push_id() {
        let (_d, s) = store();
        let (a, new_a) = s.register("app", Vendor::Fcm, "tok", None, None).unwrap();
        let (b, new_b) = s.register("app", Vendor::Fcm, "tok", None, None).unwrap();
        assert_eq!(a, b);
        assert!(new_a && !new_b);
        let (c, _) = s.register("other", Vendor::Fcm, "tok", None, None).unwrap();
        assert_ne!(a, c, "apps are separate");
    }

    #[test]
    fn binding_moves_device_between_users() {
        let (_d, s) = store();
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
    }

    #[test]
    fn user_prefix_does_not_leak_to_longer_ids() {
        let (_d, s) = store();
        let (p, _) = s.register("app", Vendor::Fcm, "tok", None, None).unwrap();
        s.bind("app", &p, "al").unwrap();
        assert!(s.devices_of("app", "a").unwrap().is_empty());
        assert_eq!(s.devices_of("app", "al").unwrap().len(), 1);
    }

    #[test]
    fn invalid_token_removal_respects_rotation() {
        let (_d, s) = store();
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
    }

    #[test]
    fn a_format_1_token_index_is_rebuilt_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = {
            let s = SledDevices::open(dir.path(), 1 << 20).unwrap();
            let (p, _) = s.register("app", Vendor::Fcm, "tok", None, None).unwrap();
            // What format 1 left: the whole token as the index key, no format mark.
            s.tokens.clear().unwrap();
            s.tokens
                .insert(key(&["app", "fcm", "tok"]), p.as_bytes())
                .unwrap();
            s.db.remove(FORMAT_KEY).unwrap();
            s.flush().unwrap();
            p
        };
        let s = SledDevices::open(dir.path(), 1 << 20).unwrap();
        let (again, new) = s.register("app", Vendor::Fcm, "tok", None, None).unwrap();
        assert_eq!(
            (again, new),
            (p, false),
            "the same device, found by its token"
        );
        assert_eq!(s.tokens.len(), 1, "the old key is gone");
    }

    #[test]
    fn unknown_device_is_not_found() {
        let (_d, s) = store();
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
    }
}
