//! dispatch-fcm: Firebase Cloud Messaging over the HTTP v1 API. The vendor module has the same
//! parts as every other: `settings`, `auth` (its credential), `request`, `response` (its one
//! table), and `client`, which wires them into the dispatcher core as a `VendorApi`.

mod auth;
mod client;
mod request;
mod response;
mod settings;

pub use client::FcmClient;
pub use settings::FcmSettings;
