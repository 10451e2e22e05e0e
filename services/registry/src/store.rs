//! Devices and bindings, behind the [`DeviceStore`] trait; [`SledDevices`] keeps them in sled.
//!
//! One device belongs to one user at a time. Every change is one multi-tree transaction, so a
//! crash never leaves a device without its owner entry or a token index without its device.

mod upgrade;

use pushmesh_contract::{codec, now_ms, Vendor};
use pushmesh_runtime::{recent, store};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The store on disk is not one this build can take over (see `store/upgrade.rs`).
    #[error("registry store: {0}")]
    Format(String),
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

/// A device as stored: what its place does not already say (app, owner and, for an unbound
/// device, push_id are in the key).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    vendor: Vendor,
    token: String,
    package: Option<String>,
    platform: Option<String>,
    token_gen: u64,
    updated_ms: u64,
}

/// One entry of a user's device list.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Owned {
    push_id: String,
    record: Record,
}

impl Record {
    fn into_device(self, push_id: String, owner: &str) -> Device {
        Device {
            push_id,
            vendor: self.vendor,
            token: self.token,
            package: self.package,
            platform: self.platform,
            user_id: (!owner.is_empty()).then(|| owner.to_owned()),
            token_gen: self.token_gen,
            updated_ms: self.updated_ms,
        }
    }
}

/// Format 3: a user's devices are one value under the user, so resolving a user (the hot path,
/// once per offline recipient) is one point read. sled's range scans copy the whole leaf they
/// start in, which made a prefix scan per user cost twice a read (see docs/benchmarks.md).
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

fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

/// The token index holds a 16-byte hash of the token, not the token: vendor tokens run to 160
/// bytes and more, and the device record keeps the token itself.
fn token_key(app_id: &str, vendor: Vendor, token: &str) -> Vec<u8> {
    let mut k = key(&[app_id, vendor.as_str(), ""]);
    k.extend_from_slice(&recent::key(&[token.as_bytes()]));
    k
}

type Tx = ConflictableTransactionError<StoreError>;

fn abort<T>(e: StoreError) -> Result<T, Tx> {
    Err(ConflictableTransactionError::Abort(e))
}

fn corrupt(e: pushmesh_contract::codec::CodecError) -> StoreError {
    StoreError::Io(format!("corrupt device record: {e}"))
}

/// The four trees inside one transaction, and the moves every change is made of.
struct Txn<'a> {
    users: &'a TransactionalTree,
    unbound: &'a TransactionalTree,
    owners: &'a TransactionalTree,
    tokens: &'a TransactionalTree,
}

impl Txn<'_> {
    fn list(&self, app_id: &str, user: &str) -> Result<Vec<Owned>, Tx> {
        match self.users.get(key(&[app_id, user]))? {
            None => Ok(Vec::new()),
            Some(v) => codec::decode(&v).map_err(corrupt).or_else(abort),
        }
    }

    fn write_list(&self, app_id: &str, user: &str, list: &[Owned]) -> Result<(), Tx> {
        let k = key(&[app_id, user]);
        if list.is_empty() {
            self.users.remove(k)?;
        } else {
            self.users.insert(k, codec::encode(&list))?;
        }
        Ok(())
    }

    /// The device's owner ("" when unbound) and record.
    fn locate(&self, app_id: &str, push_id: &str) -> Result<Option<(String, Record)>, Tx> {
        let Some(owner) = self.owners.get(key(&[app_id, push_id]))? else {
            return Ok(None);
        };
        let owner = String::from_utf8_lossy(&owner).into_owned();
        let record = if owner.is_empty() {
            match self.unbound.get(key(&[app_id, push_id]))? {
                Some(v) => Some(codec::decode(&v).map_err(corrupt).or_else(abort)?),
                None => None,
            }
        } else {
            let list = self.list(app_id, &owner)?;
            list.into_iter()
                .find(|d| d.push_id == push_id)
                .map(|d| d.record)
        };
        match record {
            Some(record) => Ok(Some((owner, record))),
            None => abort(StoreError::Io(format!(
                "device `{push_id}` has an owner entry but no record"
            ))),
        }
    }

    /// Takes the device out of `owner`'s place (its owner entry stays).
    fn take(&self, app_id: &str, owner: &str, push_id: &str) -> Result<(), Tx> {
        if owner.is_empty() {
            self.unbound.remove(key(&[app_id, push_id]))?;
            return Ok(());
        }
        let mut list = self.list(app_id, owner)?;
        list.retain(|d| d.push_id != push_id);
        self.write_list(app_id, owner, &list)
    }

    /// Files the device under `owner` ("" for nobody), replacing what is there for it.
    fn put(&self, app_id: &str, owner: &str, push_id: &str, record: &Record) -> Result<(), Tx> {
        if owner.is_empty() {
            self.unbound
                .insert(key(&[app_id, push_id]), codec::encode(record))?;
        } else {
            let mut list = self.list(app_id, owner)?;
            let entry = Owned {
                push_id: push_id.to_owned(),
                record: record.clone(),
            };
            match list.iter_mut().find(|d| d.push_id == push_id) {
                Some(d) => *d = entry,
                None => list.push(entry),
            }
            self.write_list(app_id, owner, &list)?;
        }
        self.owners
            .insert(key(&[app_id, push_id]), owner.as_bytes())?;
        Ok(())
    }

    /// Moves the device from `from` to `to`, with `record` as it is now.
    fn file(
        &self,
        app_id: &str,
        push_id: &str,
        from: &str,
        to: &str,
        record: &Record,
    ) -> Result<(), Tx> {
        if from != to {
            self.take(app_id, from, push_id)?;
        }
        self.put(app_id, to, push_id, record)
    }
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

    fn transact<T>(&self, f: impl Fn(&Txn) -> Result<T, Tx>) -> Result<T, StoreError> {
        let trees = (&self.users, &self.unbound, &self.owners, &self.tokens);
        Ok(trees.transaction(|(users, unbound, owners, tokens)| {
            f(&Txn {
                users,
                unbound,
                owners,
                tokens,
            })
        })?)
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
        self.transact(|tx| {
            if let Some(existing) = tx.tokens.get(&token_key)? {
                return Ok((String::from_utf8_lossy(&existing).into_owned(), false));
            }
            let record = Record {
                vendor,
                token: token.to_owned(),
                package: package.clone(),
                platform: platform.clone(),
                token_gen: 1,
                updated_ms: now_ms(),
            };
            tx.put(app_id, "", &fresh_id, &record)?;
            tx.tokens
                .insert(token_key.as_slice(), fresh_id.as_bytes())?;
            Ok((fresh_id.clone(), true))
        })
    }

    fn update_token(&self, app_id: &str, push_id: &str, token: &str) -> Result<Device, StoreError> {
        self.transact(|tx| {
            let Some((owner, mut record)) = tx.locate(app_id, push_id)? else {
                return abort(StoreError::NotFound(push_id.to_owned()));
            };
            if record.token != token {
                let new_key = token_key(app_id, record.vendor, token);
                if let Some(other) = tx.tokens.get(&new_key)? {
                    return abort(StoreError::TokenTaken(
                        String::from_utf8_lossy(&other).into_owned(),
                    ));
                }
                tx.tokens
                    .remove(token_key(app_id, record.vendor, &record.token))?;
                tx.tokens.insert(new_key, push_id.as_bytes())?;
                record.token = token.to_owned();
                record.token_gen += 1;
                record.updated_ms = now_ms();
                tx.put(app_id, &owner, push_id, &record)?;
            }
            Ok(record.into_device(push_id.to_owned(), &owner))
        })
    }

    fn bind(&self, app_id: &str, push_id: &str, user_id: &str) -> Result<(), StoreError> {
        self.transact(|tx| {
            let Some((owner, mut record)) = tx.locate(app_id, push_id)? else {
                return abort(StoreError::NotFound(push_id.to_owned()));
            };
            record.updated_ms = now_ms();
            tx.file(app_id, push_id, &owner, user_id, &record)
        })
    }

    fn unbind(
        &self,
        app_id: &str,
        push_id: &str,
        only_from: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.transact(|tx| {
            let Some((owner, mut record)) = tx.locate(app_id, push_id)? else {
                return abort(StoreError::NotFound(push_id.to_owned()));
            };
            if owner.is_empty() || only_from.is_some_and(|user| user != owner) {
                return Ok(false);
            }
            record.updated_ms = now_ms();
            tx.file(app_id, push_id, &owner, "", &record)?;
            Ok(true)
        })
    }

    fn remove(
        &self,
        app_id: &str,
        push_id: &str,
        if_token_gen: Option<u64>,
    ) -> Result<bool, StoreError> {
        self.transact(|tx| {
            let Some((owner, record)) = tx.locate(app_id, push_id)? else {
                return Ok(false);
            };
            if if_token_gen.is_some_and(|gen| gen != record.token_gen) {
                return Ok(false);
            }
            tx.take(app_id, &owner, push_id)?;
            tx.owners.remove(key(&[app_id, push_id]))?;
            tx.tokens
                .remove(token_key(app_id, record.vendor, &record.token))?;
            Ok(true)
        })
    }

    /// One point read: the user's devices are one value under the user, so what this returns
    /// is bound to `user_id` by construction (a push to another user's phone is the one mistake
    /// this service must never make).
    fn devices_of(&self, app_id: &str, user_id: &str) -> Result<Vec<Device>, StoreError> {
        if user_id.is_empty() {
            return Ok(Vec::new());
        }
        let Some(v) = self.users.get(key(&[app_id, user_id]))? else {
            return Ok(Vec::new());
        };
        let list: Vec<Owned> = codec::decode(&v).map_err(corrupt)?;
        Ok(list
            .into_iter()
            .map(|d| d.record.into_device(d.push_id, user_id))
            .collect())
    }

    /// In a transaction: the owner entry and the device's place are read together, so a
    /// concurrent bind cannot make a device seem missing.
    fn get(&self, app_id: &str, push_id: &str) -> Result<Option<Device>, StoreError> {
        self.transact(|tx| {
            Ok(tx
                .locate(app_id, push_id)?
                .map(|(owner, record)| record.into_device(push_id.to_owned(), &owner)))
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
