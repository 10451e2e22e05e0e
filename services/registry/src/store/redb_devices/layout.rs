//! How the devices lie in the file: the tables, the stored push id, and the moves every change
//! is made of.

use super::super::{corrupt, key, Record, StoreError};
use pushmesh_contract::codec;
use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

type Bytes = TableDefinition<'static, &'static [u8], &'static [u8]>;
/// app \0 user -> [Owned]: the user's devices, one entry each.
pub(super) const USERS: Bytes = TableDefinition::new("user_devices");
/// app \0 push id -> Record, for devices bound to nobody.
pub(super) const UNBOUND: Bytes = TableDefinition::new("unbound_devices");
/// app \0 push id -> user (empty when unbound): where to find a device by its push id.
pub(super) const OWNERS: Bytes = TableDefinition::new("owners");
/// app \0 vendor \0 hash(token) -> push id (see [`token_key`]).
pub(super) const TOKENS: Bytes = TableDefinition::new("tokens");
/// `format` -> the format this file is in.
pub(super) const META: Bytes = TableDefinition::new("meta");
pub(super) const FORMAT: u8 = 6;

/// A push id as stored: the 16 bytes its 32 hex digits spell.
pub(super) type Id = [u8; 16];

/// The id's bytes, or `None` for a string that is not one pushmesh hands out (32 lowercase hex
/// digits), which no device has.
pub(super) fn id_bytes(push_id: &str) -> Option<Id> {
    let ours = push_id.len() == 32
        && push_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ours.then(|| uuid::Uuid::try_parse(push_id).ok())
        .flatten()
        .map(|u| u.into_bytes())
}

pub(super) fn id_text(id: &Id) -> String {
    uuid::Uuid::from_bytes(*id).simple().to_string()
}

pub(super) fn id_key(app_id: &str, id: &Id) -> Vec<u8> {
    let mut k = key(&[app_id, ""]);
    k.extend_from_slice(id);
    k
}

/// One entry of a user's device list.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Owned {
    pub(super) push_id: Id,
    pub(super) record: Record,
}

/// The four tables, read in a read or a write transaction alike.
pub(super) struct Tables<T> {
    pub(super) users: T,
    pub(super) unbound: T,
    pub(super) owners: T,
    pub(super) tokens: T,
}

pub(super) type Writing<'w> = Tables<Table<'w, &'static [u8], &'static [u8]>>;

/// The devices of `user`, from the users table.
pub(super) fn list_in(
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
    pub(super) fn list(&self, app_id: &str, user: &str) -> Result<Vec<Owned>, StoreError> {
        list_in(&self.users, app_id, user)
    }

    /// The device's owner ("" when unbound) and record.
    pub(super) fn locate(
        &self,
        app_id: &str,
        id: &Id,
    ) -> Result<Option<(String, Record)>, StoreError> {
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
    pub(super) fn open(w: &WriteTransaction) -> Result<Writing<'_>, StoreError> {
        Ok(Tables {
            users: w.open_table(USERS)?,
            unbound: w.open_table(UNBOUND)?,
            owners: w.open_table(OWNERS)?,
            tokens: w.open_table(TOKENS)?,
        })
    }

    pub(super) fn write_list(
        &mut self,
        app_id: &str,
        user: &str,
        list: &[Owned],
    ) -> Result<(), StoreError> {
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
    pub(super) fn take(&mut self, app_id: &str, owner: &str, id: &Id) -> Result<(), StoreError> {
        if owner.is_empty() {
            self.unbound.remove(id_key(app_id, id).as_slice())?;
            return Ok(());
        }
        let mut list = self.list(app_id, owner)?;
        list.retain(|d| &d.push_id != id);
        self.write_list(app_id, owner, &list)
    }

    /// Files the device under `owner` ("" for nobody), replacing what is there for it.
    pub(super) fn put(
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
    pub(super) fn file(
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
