//! The types pushmesh exchanges: the public JSON contract with the IM server ([`public`]),
//! the messages stages hand each other ([`stage`]), and the one codec those travel in ([`codec`]).

pub mod codec;
pub mod public;
pub mod stage;
pub mod trace;
mod vendor;

pub use vendor::{UnknownVendor, Vendor};

/// Milliseconds since the Unix epoch: the one clock every stage stamps with.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
