//! What a dispatcher knows of calls, beside its settled pushes: the calls that ended (so none
//! of their invitations is sent after), and the invitations a vendor accepted (so they can be
//! withdrawn when the call ends). Both are kept until the call would have timed out.

use super::{DiskSent, SentError};
use pushmesh_contract::codec;
use pushmesh_contract::stage::{CallEnded, DevicePush};
use redb::TableDefinition;

type Bytes = TableDefinition<'static, &'static [u8], &'static [u8]>;
/// app \0 call id -> CallEnded.
const ENDED: Bytes = TableDefinition::new("ended_calls");
/// app \0 call id -> [DevicePush]: invitations the vendor accepted.
const RUNG: Bytes = TableDefinition::new("rung_calls");

fn key(app_id: &str, call_id: &str) -> Vec<u8> {
    [app_id.as_bytes(), b"\0", call_id.as_bytes()].concat()
}

fn corrupt(e: codec::CodecError) -> redb::Error {
    redb::Error::Corrupted(format!("a call record: {e}"))
}

impl DiskSent {
    fn get<T: serde::de::DeserializeOwned>(
        &self,
        table: Bytes,
        key: &[u8],
    ) -> Result<Option<T>, SentError> {
        let found = self.settled.read("read a call", |read| {
            let table = match read.open_table(table) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let value = table.get(key)?;
            value
                .map(|v| codec::decode(v.value()).map_err(corrupt))
                .transpose()
        })?;
        Ok(found)
    }

    pub(super) fn ended_call_in(
        &self,
        app_id: &str,
        call_id: &str,
    ) -> Result<Option<CallEnded>, SentError> {
        self.get(ENDED, &key(app_id, call_id))
    }

    pub(super) fn end_call_in(&self, ended: &CallEnded) -> Result<CallEnded, SentError> {
        let k = key(&ended.app_id, &ended.call_id);
        let merged = match self.get::<CallEnded>(ENDED, &k)? {
            None => ended.clone(),
            Some(before) => CallEnded {
                invitees: match (before.invitees, ended.invitees.clone()) {
                    (Some(mut a), Some(b)) => {
                        a.extend(b);
                        Some(a)
                    }
                    _ => None,
                },
                until_ms: before.until_ms.max(ended.until_ms),
                ..ended.clone()
            },
        };
        let value = codec::encode(&merged);
        self.settled
            .write_unsynced("record an ended call", |write| {
                write
                    .open_table(ENDED)?
                    .insert(k.as_slice(), value.as_slice())?;
                Ok(())
            })?;
        Ok(merged)
    }

    pub(super) fn put_rung_in(&self, push: &DevicePush) -> Result<(), SentError> {
        let call_id = push.call.as_ref().map_or("", |c| c.call_id.as_str());
        let k = key(&push.app_id, call_id);
        let mut rung: Vec<DevicePush> = self.get(RUNG, &k)?.unwrap_or_default();
        rung.retain(|p| p.push_id != push.push_id);
        rung.push(push.clone());
        let value = codec::encode(&rung);
        self.settled.write_unsynced("record a rung call", |write| {
            write
                .open_table(RUNG)?
                .insert(k.as_slice(), value.as_slice())?;
            Ok(())
        })?;
        Ok(())
    }

    pub(super) fn rung_in(
        &self,
        app_id: &str,
        call_id: &str,
    ) -> Result<Vec<DevicePush>, SentError> {
        Ok(self.get(RUNG, &key(app_id, call_id))?.unwrap_or_default())
    }

    /// Forgets the calls that would have timed out before `now_ms`; returns how many.
    pub(super) fn purge_calls(&self, now_ms: u64) -> Result<usize, SentError> {
        let purged = self.settled.write_unsynced("forget ended calls", |write| {
            let mut purged = 0;
            let mut ended = write.open_table(ENDED)?;
            let gone = ended.extract_if(|_, v| {
                codec::decode::<CallEnded>(v).is_ok_and(|e| e.until_ms < now_ms)
            })?;
            purged += gone.count();
            let mut rung = write.open_table(RUNG)?;
            let gone = rung.extract_if(|_, v| {
                codec::decode::<Vec<DevicePush>>(v)
                    .is_ok_and(|r| r.iter().all(|p| p.expires_at_ms < now_ms))
            })?;
            purged += gone.count();
            Ok(purged)
        })?;
        Ok(purged)
    }
}
