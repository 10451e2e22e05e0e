//! dispatch-xiaomi: Xiaomi MiPush, `POST /v3/message/regid` with up to 1000 regids. Same parts
//! as every vendor module: `settings`, `request`, `response` (its one table), `client`; MiPush
//! has no auth exchange (a static key), so there is no `auth`.

mod client;
mod request;
mod response;
mod settings;

pub use client::XiaomiClient;
pub use settings::XiaomiSettings;
