//! Devices and bindings, behind the [`DeviceStore`] trait; [`RedbDevices`] keeps them in
//! `data_dir/registry-<shard>.redb`.
//!
//! One device belongs to one user at a time. Every change is one transaction over the store's
//! tables, so a crash never leaves a device without its owner entry or a token index without
//! its device.

mod redb_devices;

pub use redb_devices::RedbDevices;

use pushmesh_contract::Vendor;
use pushmesh_runtime::recent;
use serde::{Deserialize, Serialize};
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
    /// An iOS device's PushKit token, for calls (APNs VoIP pushes), and its generation.
    pub voip_token: Option<String>,
    pub voip_gen: u64,
    /// The user whose phone last registered the device's vendor token with a user token: the
    /// one user who may bind it to itself (docs/contract.md, Who may do what).
    pub holder: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("device `{0}` is not registered")]
    NotFound(String),
    // The message leaves out the other device: a caller learns no push_id it was not given.
    #[error("that token is already registered as another device: register it (POST) instead")]
    TokenTaken(String),
    #[error("cannot open store at {path}: {cause}")]
    OpenFile { path: String, cause: String },
    /// The store on disk is not one this build can take over.
    #[error("registry store: {0}")]
    Format(String),
    #[error("device store failed: {0}")]
    Io(String),
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
    /// Sets the device's VoIP (PushKit) token.
    fn set_voip_token(
        &self,
        app_id: &str,
        push_id: &str,
        voip_token: &str,
    ) -> Result<(), StoreError>;
    /// Records that `user`'s phone presented the device's vendor token.
    fn set_holder(&self, app_id: &str, push_id: &str, user: &str) -> Result<(), StoreError>;
    /// Forgets the device's VoIP token, if its generation is still `if_gen` (APNs said it is
    /// dead; the device keeps its alert token).
    fn clear_voip_token(
        &self,
        app_id: &str,
        push_id: &str,
        if_gen: u64,
    ) -> Result<bool, StoreError>;
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
    /// The devices bound to `user_id`.
    fn devices_of(&self, app_id: &str, user_id: &str) -> Result<Vec<Device>, StoreError> {
        let mut found = self.devices_of_each(&[(app_id, user_id)])?;
        Ok(found.pop().unwrap_or_default())
    }
    /// The devices of each (app, user) in `users`, in order, read from one snapshot: a batch's
    /// recipients cost one read transaction, not one each.
    fn devices_of_each(&self, users: &[(&str, &str)]) -> Result<Vec<Vec<Device>>, StoreError>;
    fn get(&self, app_id: &str, push_id: &str) -> Result<Option<Device>, StoreError>;
    fn flush(&self) -> Result<(), StoreError>;
}

/// Opens the registry's store for `shard` below `data_dir` (`registry-<shard>.redb`).
pub fn open(data_dir: &Path, shard: u32, cache_bytes: u64) -> Result<RedbDevices, StoreError> {
    RedbDevices::open(
        &data_dir.join(format!("registry-{shard}.redb")),
        cache_bytes,
    )
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
    voip_token: Option<String>,
    voip_gen: u64,
    holder: Option<String>,
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
            voip_token: self.voip_token,
            voip_gen: self.voip_gen,
            holder: self.holder,
        }
    }
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

fn corrupt(e: pushmesh_contract::codec::CodecError) -> StoreError {
    StoreError::Io(format!("corrupt device record: {e}"))
}

#[cfg(test)]
mod tests;
