//! The dispatcher core, written once for every vendor: the vendor actor (one per app, owning its
//! rate limits, quota, breaker, credential and waiting requests), the stage that turns device
//! pushes into vendor requests and outcomes, the retry policy and the settled-push store. A
//! vendor module supplies only a [`VendorApi`]: its settings, how to get a credential, how to
//! send one request and its one response table.

mod actor;
mod app;
pub mod attempt;
pub mod auth;
pub mod breaker;
mod calls;
pub mod dry_run;
mod inflight;
pub mod limits;
pub mod retry;
pub mod sent;
mod stage;
mod state;
pub mod support;
pub mod testing;

pub use actor::{ActorSettings, ActorState, EndCall, GetState, SendRequest, VendorActor};
pub use app::{build, Application, StartError};
pub use attempt::Attempt;
pub use auth::{Answer, AuthError, Credential};
pub use calls::CallsEndedHandler;
pub use stage::{DispatchHandler, DispatchMetrics};

use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::Vendor;
use pushmesh_runtime::SettingsError;
use std::future::Future;
use std::path::Path;

/// What a vendor client is built from besides its own settings.
pub struct VendorEnv<'a> {
    /// The dispatcher's pooled HTTP client (HTTP/2 only where [`VendorApi::HTTP2_ONLY`]).
    pub http: reqwest::Client,
    /// Where relative key and credential file paths in the settings are resolved.
    pub config_dir: &'a Path,
}

/// One vendor's client for one app: what differs between vendors. Its vendor actor calls
/// [`authorize`](VendorApi::authorize) when it holds no valid credential and
/// [`send`](VendorApi::send) once a request has a permit; the client itself keeps no state.
pub trait VendorApi: Sized + Send + Sync + 'static {
    const VENDOR: Vendor;
    /// APNs speaks HTTP/2 only; every other vendor takes HTTP/1.1 or negotiates.
    const HTTP2_ONLY: bool = false;
    /// Whether a message can reach the app to stop it ringing after a call ended (a data
    /// message; OPPO and vivo have none that reaches a closed app).
    const WITHDRAWS: bool = true;
    /// The settings whose mistake makes the vendor call every token dead (a wrong APNs topic,
    /// Huawei app id): the dead-token guard names them.
    const TOKEN_SETTINGS: &'static str = "the app's id and credentials";
    /// The settings the credential is made from: a change to any other keeps the kept
    /// credential (APNs refuses a new provider token within 20 minutes). Empty: all of them.
    const CREDENTIAL_KEYS: &'static [&'static str] = &[];
    /// The vendor's own keys of `[apps.<app>.<vendor>]` (the core takes the limit keys out).
    type Settings: serde::de::DeserializeOwned;

    /// Builds the client of one app. A [`SettingsError`] names the key inside the vendor's table
    /// (`project_id`); the core prefixes `apps.<app>.<vendor>.`.
    fn new(settings: Self::Settings, env: &VendorEnv) -> Result<Self, SettingsError>;

    /// The most devices one request may carry (1 for FCM and APNs, up to 1000 for list APIs).
    fn max_devices_per_request(&self) -> usize {
        1
    }

    /// Obtains a fresh credential: an OAuth access token, a signed JWT, or a static key.
    fn authorize(&self) -> impl Future<Output = Result<Credential, AuthError>> + Send;

    /// Sends one request for `pushes` (one app, one message) with `credential`, and classifies
    /// the answer: one [`Attempt`] per push, in order, or [`Answer::AuthExpired`].
    fn send(&self, credential: &str, pushes: &[DevicePush]) -> impl Future<Output = Answer> + Send;

    /// The requests [`send`](Self::send) would make for `pushes`, built by the same code, for
    /// a dry run; or what `send` would answer without sending anything (a push it refuses).
    fn requests(&self, credential: &str, pushes: &[DevicePush]) -> Result<Vec<Built>, Attempt>;
}

/// A request as a vendor client builds it.
pub type Built = reqwest::Result<reqwest::Request>;
