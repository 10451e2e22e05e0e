//! presence: knows who is online (sessions with leases) and passes on only offline recipients.
//! Recipients who are online get the outcome `online` and no push.
//!
//! Sessions live in memory: after a restart they come back as IM nodes refresh them (every
//! lease is short), and until then a user may get a push they did not need, never miss one.

mod api;
mod handler;
mod sessions;
mod startup;

pub use sessions::Sessions;
pub use startup::{Application, StartError};
