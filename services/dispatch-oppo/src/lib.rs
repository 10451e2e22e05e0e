//! dispatch-oppo: OPPO Push (HeyTap), `unicast` and `unicast_batch` (up to 1000). Same parts as
//! every vendor module: `settings`, `auth`, `request`, `response` (its one table), `client`.

mod auth;
mod client;
mod request;
mod response;
mod settings;

pub use client::OppoClient;
pub use settings::OppoSettings;
