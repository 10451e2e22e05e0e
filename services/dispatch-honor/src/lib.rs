//! dispatch-honor: Honor Push, `sendMessage` with up to 1000 tokens. Same parts as every vendor
//! module: `settings`, `request`, `response` (its one table) and `client`, whose `authorize` is
//! the core's OAuth 2.0 client credentials.

mod client;
mod request;
mod response;
mod settings;

pub use client::HonorClient;
pub use settings::HonorSettings;
