//! dispatch-vivo: vivo Push, `/message/send` and list pushes (up to 1000). Same parts as every
//! vendor module: `settings`, `auth`, `request`, `response` (its one table), `client`.

mod auth;
mod client;
mod request;
mod response;
mod settings;

pub use client::VivoClient;
pub use settings::VivoSettings;
