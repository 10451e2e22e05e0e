//! registry: devices and their bindings to users, in redb. Serves the device HTTP API, applies
//! `binding.*` events, resolves offline recipients to devices and hands per-vendor batches to
//! `dispatch.<vendor>`; deletes devices whose tokens a vendor declared dead.

mod api;
mod auth;
mod console;
mod handler;
mod startup;
mod store;
mod trace;

pub use startup::{Application, StartError};
pub use store::{open as open_store, Device, DeviceStore, RedbDevices, StoreError};
