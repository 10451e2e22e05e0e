//! The devices in redb. A user's devices are one value, so resolving a user is one point read;
//! push ids are kept as their 16 bytes rather than 32 hex characters, since each is stored up to
//! three times.
//!
//! Every change is one write transaction committed without an fsync; [`DeviceStore::flush`]
//! makes all of them durable with one.

use super::{corrupt, key, token_key, Device, DeviceStore, Record, StoreError};
use pushmesh_contract::{codec, now_ms, Vendor};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

type Bytes = TableDefinition<'static, &'static [u8], &'static [u8]>;
/// app \0 user -> [Owned]: the user's devices, one entry each.
const USERS: Bytes = TableDefinition::new("user_devices");
/// app \0 push id -> Record, for devices bound to nobody.
const UNBOUND: Bytes = TableDefinition::new("unbound_devices");
/// app \0 push id -> user (empty when unbound): where to find a device by its push id.
const OWNERS: Bytes = TableDefinition::new("owners");
/// app \0 vendor \0 hash(token) -> push id (see [`token_key`]).
const TOKENS: Bytes = TableDefinition::new("tokens");
/// `format` -> the format this file is in.
const META: Bytes = TableDefinition::new("meta");
const FORMAT: u8 = 4;

/// A push id as stored: the 16 bytes its 32 hex digits spell.
type Id = [u8; 16];

/// The id's bytes, or `None` for a string that is not one pushmesh hands out (32 lowercase hex
/// digits), which no device has.
fn id_bytes(push_id: &str) -> Option<Id> {
    let ours = push_id.len() == 32
        && push_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ours.then(|| uuid::Uuid::try_parse(push_id).ok())
        .flatten()
        .map(|u| u.into_bytes())
}

fn id_text(id: &Id) -> String {
    uuid::Uuid::from_bytes(*id).simple().to_string()
}

fn id_key(app_id: &str, id: &Id) -> Vec<u8> {
    let mut k = key(&[app_id, ""]);
    k.extend_from_slice(id);
    k
}

/// One entry of a user's device list.
#[derive(Debug, Serialize, Deserialize)]
struct Owned {
    push_id: Id,
    record: Record,
}

pub struct RedbDevices {
    db: Database,
    /// A change was committed since the last durable commit.
    unsynced: AtomicBool,
    /// Held across a flush's durable commit, so a flush that finds nothing to do returns only
    /// once the one under way (which may hold its caller's changes) is done.
    flushing: Mutex<()>,
}

/// The four tables, read in a read or a write transaction alike.
pub(super) struct Tables<T> {
    users: T,
    unbound: T,
    owners: T,
    tokens: T,
}

pub(super) type Writing<'w> = Tables<Table<'w, &'static [u8], &'static [u8]>>;

/// The devices of `user`, from the users table.
fn list_in(
    users: &impl ReadableTable<&'static [u8], &'static [u8]>,
    app_id: &str,
    user: &str,
) -> Result<Vec<Owned>, StoreError> {
    match users.get(key(&[app_id, user]).as_slice())? {
        None => Ok(Vec::new()),
        Some(v) => codec::decode(v.value()).map_err(corrupt),
    }
}

impl<T: ReadableTable<&'static [u8], &'static [u8]>> Tables<T> {
    fn list(&self, app_id: &str, user: &str) -> Result<Vec<Owned>, StoreError> {
        list_in(&self.users, app_id, user)
    }

    /// The device's owner ("" when unbound) and record.
    fn locate(&self, app_id: &str, id: &Id) -> Result<Option<(String, Record)>, StoreError> {
        let k = id_key(app_id, id);
        let Some(owner) = self.owners.get(k.as_slice())? else {
            return Ok(None);
        };
        let owner = String::from_utf8_lossy(owner.value()).into_owned();
        let record = if owner.is_empty() {
            match self.unbound.get(k.as_slice())? {
                Some(v) => Some(codec::decode(v.value()).map_err(corrupt)?),
                None => None,
            }
        } else {
            let list = self.list(app_id, &owner)?;
            list.into_iter()
                .find(|d| &d.push_id == id)
                .map(|d| d.record)
        };
        match record {
            Some(record) => Ok(Some((owner, record))),
            None => Err(StoreError::Io(format!(
                "device `{}` has an owner entry but no record",
                id_text(id)
            ))),
        }
    }
}

/// The moves every change is made of.
impl Writing<'_> {
    fn open(w: &WriteTransaction) -> Result<Writing<'_>, StoreError> {
        Ok(Tables {
            users: w.open_table(USERS)?,
            unbound: w.open_table(UNBOUND)?,
            owners: w.open_table(OWNERS)?,
            tokens: w.open_table(TOKENS)?,
        })
    }

    fn write_list(&mut self, app_id: &str, user: &str, list: &[Owned]) -> Result<(), StoreError> {
        let k = key(&[app_id, user]);
        if list.is_empty() {
            self.users.remove(k.as_slice())?;
        } else {
            self.users
                .insert(k.as_slice(), codec::encode(&list).as_slice())?;
        }
        Ok(())
    }

    /// Takes the device out of `owner`'s place (its owner entry stays).
    fn take(&mut self, app_id: &str, owner: &str, id: &Id) -> Result<(), StoreError> {
        if owner.is_empty() {
            self.unbound.remove(id_key(app_id, id).as_slice())?;
            return Ok(());
        }
        let mut list = self.list(app_id, owner)?;
        list.retain(|d| &d.push_id != id);
        self.write_list(app_id, owner, &list)
    }

    /// Files the device under `owner` ("" for nobody), replacing what is there for it.
    fn put(
        &mut self,
        app_id: &str,
        owner: &str,
        id: &Id,
        record: &Record,
    ) -> Result<(), StoreError> {
        let k = id_key(app_id, id);
        if owner.is_empty() {
            self.unbound
                .insert(k.as_slice(), codec::encode(record).as_slice())?;
        } else {
            let mut list = self.list(app_id, owner)?;
            let entry = Owned {
                push_id: *id,
                record: record.clone(),
            };
            match list.iter_mut().find(|d| &d.push_id == id) {
                Some(d) => *d = entry,
                None => list.push(entry),
            }
            self.write_list(app_id, owner, &list)?;
        }
        self.owners.insert(k.as_slice(), owner.as_bytes())?;
        Ok(())
    }

    /// Moves the device from `from` to `to`, with `record` as it is now.
    fn file(
        &mut self,
        app_id: &str,
        id: &Id,
        from: &str,
        to: &str,
        record: &Record,
    ) -> Result<(), StoreError> {
        if from != to {
            self.take(app_id, from, id)?;
        }
        self.put(app_id, to, id, record)
    }
}

impl RedbDevices {
    /// Opens (or creates) the store at `path`, with a page cache of `cache_bytes`.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let open_error = |cause: String| StoreError::OpenFile {
            path: path.display().to_string(),
            cause,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| open_error(e.to_string()))?;
        }
        let db = Database::builder()
            .set_cache_size(usize::try_from(cache_bytes).unwrap_or(usize::MAX))
            .create(path)
            .map_err(|e| open_error(e.to_string()))?;
        let store = RedbDevices {
            db,
            unsynced: AtomicBool::new(false),
            flushing: Mutex::new(()),
        };
        store.check_format()?;
        Ok(store)
    }

    /// Creates the tables (a read finds every one) and marks the format; refuses a file a newer
    /// build wrote.
    fn check_format(&self) -> Result<(), StoreError> {
        let mut w = self.db.begin_write()?;
        w.set_durability(Durability::Immediate)?;
        {
            let mut meta = w.open_table(META)?;
            let found = meta.get(b"format".as_slice())?.map(|v| v.value().to_vec());
            match found.as_deref() {
                Some(&[mark]) if mark == FORMAT => {}
                None => {
                    meta.insert(b"format".as_slice(), [FORMAT].as_slice())?;
                }
                Some(&[mark]) => {
                    return Err(StoreError::Format(format!(
                        "it is format {mark}, and this build reads format {FORMAT}: \
                         run a build at least as new as the one that wrote it"
                    )))
                }
                Some(other) => {
                    return Err(StoreError::Format(format!(
                        "its format mark {other:?} is not one this build knows"
                    )))
                }
            }
            Writing::open(&w)?;
        }
        w.commit()?;
        Ok(())
    }

    /// Runs `f` in one write transaction, committed if it returns Ok, without an fsync.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&mut Writing<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut w = self.db.begin_write()?;
        w.set_durability(Durability::None)?;
        let out = f(&mut Writing::open(&w)?);
        match out {
            Ok(out) => {
                w.commit()?;
                self.unsynced.store(true, Ordering::SeqCst);
                Ok(out)
            }
            Err(e) => {
                w.abort()?;
                Err(e)
            }
        }
    }

    fn read<T>(
        &self,
        f: impl FnOnce(
            &Tables<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>,
        ) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let r = self.db.begin_read()?;
        f(&Tables {
            users: r.open_table(USERS)?,
            unbound: r.open_table(UNBOUND)?,
            owners: r.open_table(OWNERS)?,
            tokens: r.open_table(TOKENS)?,
        })
    }
}

impl DeviceStore for RedbDevices {
    fn register(
        &self,
        app_id: &str,
        vendor: Vendor,
        token: &str,
        package: Option<String>,
        platform: Option<String>,
    ) -> Result<(String, bool), StoreError> {
        let token_key = token_key(app_id, vendor, token);
        self.write(|t| {
            if let Some(existing) = t.tokens.get(token_key.as_slice())? {
                let id: Id = existing.value().try_into().map_err(|_| {
                    StoreError::Io("a token index entry that is not a push id".into())
                })?;
                return Ok((id_text(&id), false));
            }
            let id = uuid::Uuid::new_v4().into_bytes();
            let record = Record {
                vendor,
                token: token.to_owned(),
                package,
                platform,
                token_gen: 1,
                updated_ms: now_ms(),
            };
            t.put(app_id, "", &id, &record)?;
            t.tokens.insert(token_key.as_slice(), id.as_slice())?;
            Ok((id_text(&id), true))
        })
    }

    fn update_token(&self, app_id: &str, push_id: &str, token: &str) -> Result<Device, StoreError> {
        let not_found = || StoreError::NotFound(push_id.to_owned());
        let id = id_bytes(push_id).ok_or_else(not_found)?;
        self.write(|t| {
            let (owner, mut record) = t.locate(app_id, &id)?.ok_or_else(not_found)?;
            if record.token != token {
                let new_key = token_key(app_id, record.vendor, token);
                if let Some(other) = t.tokens.get(new_key.as_slice())? {
                    let other = other.value().try_into().map(|id| id_text(&id));
                    return Err(StoreError::TokenTaken(other.unwrap_or_default()));
                }
                t.tokens
                    .remove(token_key(app_id, record.vendor, &record.token).as_slice())?;
                t.tokens.insert(new_key.as_slice(), id.as_slice())?;
                record.token = token.to_owned();
                record.token_gen += 1;
                record.updated_ms = now_ms();
                t.put(app_id, &owner, &id, &record)?;
            }
            Ok(record.into_device(push_id.to_owned(), &owner))
        })
    }

    fn bind(&self, app_id: &str, push_id: &str, user_id: &str) -> Result<(), StoreError> {
        let not_found = || StoreError::NotFound(push_id.to_owned());
        let id = id_bytes(push_id).ok_or_else(not_found)?;
        self.write(|t| {
            let (owner, mut record) = t.locate(app_id, &id)?.ok_or_else(not_found)?;
            record.updated_ms = now_ms();
            t.file(app_id, &id, &owner, user_id, &record)
        })
    }

    fn unbind(
        &self,
        app_id: &str,
        push_id: &str,
        only_from: Option<&str>,
    ) -> Result<bool, StoreError> {
        let not_found = || StoreError::NotFound(push_id.to_owned());
        let id = id_bytes(push_id).ok_or_else(not_found)?;
        self.write(|t| {
            let (owner, mut record) = t.locate(app_id, &id)?.ok_or_else(not_found)?;
            if owner.is_empty() || only_from.is_some_and(|user| user != owner) {
                return Ok(false);
            }
            record.updated_ms = now_ms();
            t.file(app_id, &id, &owner, "", &record)?;
            Ok(true)
        })
    }

    fn remove(
        &self,
        app_id: &str,
        push_id: &str,
        if_token_gen: Option<u64>,
    ) -> Result<bool, StoreError> {
        let Some(id) = id_bytes(push_id) else {
            return Ok(false);
        };
        self.write(|t| {
            let Some((owner, record)) = t.locate(app_id, &id)? else {
                return Ok(false);
            };
            if if_token_gen.is_some_and(|gen| gen != record.token_gen) {
                return Ok(false);
            }
            t.take(app_id, &owner, &id)?;
            t.owners.remove(id_key(app_id, &id).as_slice())?;
            t.tokens
                .remove(token_key(app_id, record.vendor, &record.token).as_slice())?;
            Ok(true)
        })
    }

    /// One point read a user: a user's devices are one value under the user, so what this
    /// returns is bound to that user by construction (a push to another user's phone is the
    /// one mistake this service must never make).
    fn devices_of_each(&self, users: &[(&str, &str)]) -> Result<Vec<Vec<Device>>, StoreError> {
        // The users table alone: opening a table is a lookup of its own.
        let read = self.db.begin_read()?;
        let table = read.open_table(USERS)?;
        users
            .iter()
            .map(|&(app_id, user_id)| {
                if user_id.is_empty() {
                    return Ok(Vec::new());
                }
                Ok(list_in(&table, app_id, user_id)?
                    .into_iter()
                    .map(|d| d.record.into_device(id_text(&d.push_id), user_id))
                    .collect())
            })
            .collect()
    }

    /// In one read transaction: the owner entry and the device's place are read together, so
    /// a concurrent bind cannot make a device seem missing.
    fn get(&self, app_id: &str, push_id: &str) -> Result<Option<Device>, StoreError> {
        let Some(id) = id_bytes(push_id) else {
            return Ok(None);
        };
        let found = self.read(|t| t.locate(app_id, &id))?;
        Ok(found.map(|(owner, record)| record.into_device(push_id.to_owned(), &owner)))
    }

    /// One durable commit, which makes every change committed before it durable too.
    fn flush(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.flushing.lock().unwrap_or_else(|e| e.into_inner());
        if !self.unsynced.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let synced = (|| {
            let mut w = self.db.begin_write()?;
            w.set_durability(Durability::Immediate)?;
            w.commit()?;
            Ok::<_, StoreError>(())
        })();
        if synced.is_err() {
            self.unsynced.store(true, Ordering::SeqCst);
        }
        synced
    }
}

/// redb's error types, each into one `Io` error with redb's own wording.
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Io(redb::Error::from(e).to_string())
            }
        }
    )*};
}

from_redb!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::SetDurabilityError
);
