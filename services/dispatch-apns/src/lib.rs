//! dispatch-apns: Apple Push Notification service over HTTP/2 with token-based (.p8) auth.
//! Same parts as every vendor module: `settings`, `auth`, `request`, `response` (its one
//! table), `client`.

mod auth;
mod client;
mod request;
mod response;
mod settings;

pub use client::ApnsClient;
pub use settings::ApnsSettings;
