//! The devices in redb. A user's devices are one value, so resolving a user is one point read;
//! push ids are kept as their 16 bytes rather than 32 hex characters, since each is stored up to
//! three times.
//!
//! Every change is one write transaction committed without an fsync; [`DeviceStore::flush`]
//! makes all of them durable with one.

use super::{token_key, Device, DeviceStore, Record, StoreError};
use pushmesh_contract::{now_ms, Vendor};
use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

mod layout;

use layout::{
    id_bytes, id_key, id_text, list_in, Id, Tables, Writing, FORMAT, META, OWNERS, TOKENS, UNBOUND,
    USERS,
};

pub struct RedbDevices {
    db: Database,
    /// A change was committed since the last durable commit.
    unsynced: AtomicBool,
    /// Held across a flush's durable commit, so a flush that finds nothing to do returns only
    /// once the one under way (which may hold its caller's changes) is done.
    flushing: Mutex<()>,
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
    fn write<T>(
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
                voip_token: None,
                voip_gen: 0,
                holder: None,
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

    fn set_voip_token(
        &self,
        app_id: &str,
        push_id: &str,
        voip_token: &str,
    ) -> Result<(), StoreError> {
        let not_found = || StoreError::NotFound(push_id.to_owned());
        let id = id_bytes(push_id).ok_or_else(not_found)?;
        self.write(|t| {
            let (owner, mut record) = t.locate(app_id, &id)?.ok_or_else(not_found)?;
            if record.voip_token.as_deref() != Some(voip_token) {
                record.voip_token = Some(voip_token.to_owned());
                record.voip_gen += 1;
                record.updated_ms = now_ms();
                t.put(app_id, &owner, &id, &record)?;
            }
            Ok(())
        })
    }

    fn set_holder(&self, app_id: &str, push_id: &str, user: &str) -> Result<(), StoreError> {
        let not_found = || StoreError::NotFound(push_id.to_owned());
        let id = id_bytes(push_id).ok_or_else(not_found)?;
        self.write(|t| {
            let (owner, mut record) = t.locate(app_id, &id)?.ok_or_else(not_found)?;
            if record.holder.as_deref() != Some(user) {
                record.holder = Some(user.to_owned());
                t.put(app_id, &owner, &id, &record)?;
            }
            Ok(())
        })
    }

    fn clear_voip_token(
        &self,
        app_id: &str,
        push_id: &str,
        if_gen: u64,
    ) -> Result<bool, StoreError> {
        let Some(id) = id_bytes(push_id) else {
            return Ok(false);
        };
        self.write(|t| {
            let Some((owner, mut record)) = t.locate(app_id, &id)? else {
                return Ok(false);
            };
            if record.voip_token.is_none() || record.voip_gen != if_gen {
                return Ok(false);
            }
            record.voip_token = None;
            t.put(app_id, &owner, &id, &record)?;
            Ok(true)
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
