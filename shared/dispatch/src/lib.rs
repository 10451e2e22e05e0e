//! The dispatcher core, written once for every vendor: the vendor actor, retry policy, the
//! stage that turns device pushes into vendor requests and outcomes, metrics, and the token
//! cache vendors' auth modules share. A vendor module supplies only a [`VendorApi`]: auth,
//! request building and its one response table.

mod actor;
mod app;
pub mod attempt;
pub mod auth;
pub mod breaker;
mod inflight;
pub mod limits;
pub mod retry;
pub mod sent;
mod stage;
pub mod support;
pub mod testing;
pub mod token;

pub use actor::{SendRequest, VendorActor};
pub use app::{build, Application, StartError};
pub use attempt::Attempt;
pub use stage::{DispatchHandler, DispatchMetrics};

use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::Vendor;
use std::future::Future;

/// One vendor's client for one app: what differs between vendors.
pub trait VendorApi: Send + Sync + 'static {
    fn vendor(&self) -> Vendor;

    /// The most devices one request may carry (1 for FCM and APNs, 1000 for the list APIs).
    fn max_devices_per_request(&self) -> usize {
        1
    }

    /// Sends one request for `pushes` (one app, one message), and classifies the answer:
    /// one [`Attempt`] per push, in order.
    fn send(&self, pushes: &[DevicePush]) -> impl Future<Output = Vec<Attempt>> + Send;
}
