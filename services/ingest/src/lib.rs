//! ingest: takes what the IM server publishes on `pushmesh.ingest`, validates it, drops
//! duplicates, and hands per-shard batches to presence (messages, session events) and the
//! registry (binding events). Bad input goes to `pushmesh.rejected` with its reason.

mod calls;
mod dedup;
mod handler;
mod routed;
mod startup;
mod validate;

pub use dedup::{DedupStore, DiskDedup, FilterStats};
pub use startup::{Application, StartError};
pub use validate::{Accepted, Rejection, Validator};
