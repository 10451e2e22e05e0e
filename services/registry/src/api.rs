//! The device and server HTTP API (docs/contract.md). Every request names its caller (`auth`);
//! an app's server may do everything in its app, a user's phone only what concerns its own
//! user and the devices it holds. Every write is flushed before the answer.

mod error;
#[cfg(test)]
mod fuzz;

pub use error::ApiError;

use crate::auth::{Caller, Credentials, Refusal};
use crate::console::Sessions;
use crate::store::{Device, DeviceStore, StoreError};
use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use pushmesh_contract::Vendor;
use pushmesh_runtime::settings::check_id;
use pushmesh_runtime::{Settings, SettingsError};
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;
use std::sync::Arc;

pub struct ApiState {
    pub store: Arc<dyn DeviceStore>,
    pub settings: Arc<Settings>,
    pub credentials: Credentials,
    /// Requests per caller: a server key, a user, or an address with no valid credential.
    pub limiter: DefaultKeyedRateLimiter<String>,
    /// The console's logins: a session stands for the server key it was opened with.
    pub sessions: Sessions,
}

impl ApiState {
    pub fn new(
        store: Arc<dyn DeviceStore>,
        settings: Arc<Settings>,
    ) -> Result<Self, SettingsError> {
        let credentials = Credentials::load(&settings.api)?;
        let rate = NonZeroU32::new(settings.api.rate_per_s).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.api.burst).unwrap_or(rate);
        let limiter = RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst));
        Ok(ApiState {
            store,
            settings,
            credentials,
            limiter,
            sessions: Sessions::default(),
        })
    }

    /// The caller of `req` to `app_id`, counted against its rate limit; a request without a
    /// valid credential is counted against its address.
    /// Refuses every caller but the app's server (a key or a console session); `what` says what
    /// a user token may not do.
    pub(crate) fn server_only(
        &self,
        req: &HttpRequest,
        app_id: &str,
        what: &str,
    ) -> Result<(), ApiError> {
        match self.caller(req, app_id)? {
            Caller::Server { .. } => Ok(()),
            Caller::User(_) => Err(ApiError::Forbidden(format!(
                "{what} are for the app's server key, not a user token"
            ))),
        }
    }

    pub(crate) fn caller(&self, req: &HttpRequest, app_id: &str) -> Result<Caller, ApiError> {
        if !self.settings.is_known_app(app_id) {
            return Err(ApiError::UnknownApp(app_id.to_owned()));
        }
        let header = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let caller = match (header, self.sessions.of(req)) {
            (None, Some((app, caller))) if app == app_id => Ok(caller),
            (None, Some((app, _))) => Err(Refusal::Forbidden(format!(
                "this console session is `{app}`'s, not `{app_id}`'s"
            ))),
            _ => self.credentials.caller(app_id, header),
        };
        let counted_as = match &caller {
            Ok(c) => c.id(app_id),
            Err(_) => format!(
                "addr:{}",
                req.peer_addr()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default()
            ),
        };
        if let Err(not_until) = self.limiter.check_key(&counted_as) {
            let now = governor::clock::Clock::now(self.limiter.clock());
            return Err(ApiError::RateLimited(not_until.wait_time_from(now)));
        }
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        Ok(caller?)
    }
}

/// What a user's token may touch: its own user, and a device bound to it or whose vendor token
/// its phone presented (the holder). An app's server may touch anything in its app.
fn may_touch(caller: &Caller, device: &Device) -> bool {
    match caller {
        Caller::Server { .. } => true,
        Caller::User(user) => {
            device.user_id.as_ref() == Some(user) || device.holder.as_ref() == Some(user)
        }
    }
}

/// The device, if `caller` may touch it (someone else's: 403; none: 404).
fn device(
    state: &ApiState,
    caller: &Caller,
    app_id: &str,
    push_id: &str,
) -> Result<Device, ApiError> {
    let device = state.store.get(app_id, push_id)?;
    let device = device.ok_or_else(|| StoreError::NotFound(push_id.to_owned()))?;
    if !may_touch(caller, &device) {
        return Err(ApiError::Forbidden(format!(
            "device `{push_id}` is another user's: register its token from this phone first"
        )));
    }
    Ok(device)
}

/// The largest body a device call may carry; a real one is a few hundred bytes.
const BODY_LIMIT: usize = 16 * 1024;

/// JSON bodies that fail to parse answer in the same error shape, naming the field.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(BODY_LIMIT)
        .error_handler(|err, _| match err {
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                ApiError::TooLarge(BODY_LIMIT).into()
            }
            err => ApiError::Invalid(format!("invalid JSON body: {err}")).into(),
        })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    let scope = crate::trace::api::routes(web::scope("/v1/apps/{app_id}"));
    cfg.service(
        scope
            .route("/devices", web::post().to(register))
            .route("/devices/{push_id}", web::put().to(update_token))
            .route("/devices/{push_id}", web::delete().to(unregister))
            .route("/devices/{push_id}/user", web::put().to(bind))
            .route("/devices/{push_id}/user", web::delete().to(unbind))
            .route("/users/{user_id}/devices", web::get().to(devices_of))
            .route(
                "/users/{user_id}/sessions",
                web::get().to(crate::console::sessions),
            )
            .route("/test-pushes", web::post().to(crate::console::test_push))
            .route("/vendors", web::get().to(crate::console::vendors))
            .route(
                "/vendors/{vendor}/replay",
                web::post().to(crate::console::replay),
            ),
    );
    crate::console::routes(cfg);
}

#[derive(Deserialize)]
struct RegisterBody {
    vendor: String,
    token: String,
    /// An iOS app's PushKit token: calls ring through it.
    voip_token: Option<String>,
    package: Option<String>,
    platform: Option<String>,
}

#[derive(Deserialize)]
struct TokenBody {
    token: Option<String>,
    voip_token: Option<String>,
}

#[derive(Deserialize)]
struct UserBody {
    user_id: String,
}

#[derive(Serialize)]
struct DeviceView {
    push_id: String,
    vendor: Vendor,
    package: Option<String>,
    platform: Option<String>,
    /// Calls ring it through a VoIP (PushKit) token.
    voip: bool,
    updated_ms: u64,
}

impl From<Device> for DeviceView {
    fn from(d: Device) -> Self {
        DeviceView {
            push_id: d.push_id,
            vendor: d.vendor,
            package: d.package,
            platform: d.platform,
            voip: d.voip_token.is_some(),
            updated_ms: d.updated_ms,
        }
    }
}

fn id(name: &str, value: &str) -> Result<(), ApiError> {
    check_id(value).map_err(|reason| ApiError::Invalid(format!("{name}: {reason}")))
}

/// Vendor tokens are opaque and long (APNs 64 hex, FCM ~160 chars); bound them, forbid blanks.
fn token(name: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty()
        || value.len() > 4096
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::Invalid(format!(
            "{name}: must be 1 to 4096 characters without spaces"
        )));
    }
    Ok(())
}

/// A VoIP token is APNs' (PushKit) alone.
fn voip_token(vendor: Vendor, value: &str) -> Result<(), ApiError> {
    if vendor != Vendor::Apns {
        return Err(ApiError::Invalid(format!(
            "voip_token: only an apns device has one, not a {vendor} device"
        )));
    }
    token("voip_token", value)
}

async fn register(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    let app_id = path.into_inner();
    let caller = state.caller(&req, &app_id)?;
    let body = body.into_inner();
    let vendor: Vendor = body
        .vendor
        .parse()
        .map_err(|e| ApiError::Invalid(format!("vendor: {e}")))?;
    token("token", &body.token)?;
    if let Some(voip) = &body.voip_token {
        voip_token(vendor, voip)?;
    }
    let (push_id, created) =
        state
            .store
            .register(&app_id, vendor, &body.token, body.package, body.platform)?;
    // A phone that presents the vendor token holds the device: its user may bind it.
    if let Caller::User(user) = &caller {
        state.store.set_holder(&app_id, &push_id, user)?;
    }
    if let Some(voip) = &body.voip_token {
        state.store.set_voip_token(&app_id, &push_id, voip)?;
    }
    state.store.flush()?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(serde_json::json!({ "push_id": push_id })))
}

async fn update_token(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
    body: web::Json<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, push_id) = path.into_inner();
    let caller = state.caller(&req, &app_id)?;
    let body = body.into_inner();
    if body.token.is_none() && body.voip_token.is_none() {
        return Err(ApiError::Invalid(
            "token: give token, voip_token or both".into(),
        ));
    }
    let device = device(&state, &caller, &app_id, &push_id)?;
    if let Some(t) = &body.token {
        token("token", t)?;
        state.store.update_token(&app_id, &push_id, t)?;
    }
    if let Some(voip) = &body.voip_token {
        voip_token(device.vendor, voip)?;
        state.store.set_voip_token(&app_id, &push_id, voip)?;
    }
    state.store.flush()?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "push_id": push_id })))
}

async fn unregister(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, push_id) = path.into_inner();
    let caller = state.caller(&req, &app_id)?;
    device(&state, &caller, &app_id, &push_id)?;
    if !state.store.remove(&app_id, &push_id, None)? {
        return Err(StoreError::NotFound(push_id).into());
    }
    state.store.flush()?;
    Ok(HttpResponse::NoContent().finish())
}

async fn bind(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
    body: web::Json<UserBody>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, push_id) = path.into_inner();
    let caller = state.caller(&req, &app_id)?;
    id("user_id", &body.user_id)?;
    if let Caller::User(user) = &caller {
        if *user != body.user_id {
            return Err(ApiError::Forbidden(format!(
                "a user token binds a device to its own user (`{user}`) only"
            )));
        }
    }
    device(&state, &caller, &app_id, &push_id)?;
    state.store.bind(&app_id, &push_id, &body.user_id)?;
    state.store.flush()?;
    Ok(HttpResponse::NoContent().finish())
}

async fn unbind(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, push_id) = path.into_inner();
    let caller = state.caller(&req, &app_id)?;
    let device = device(&state, &caller, &app_id, &push_id)?;
    // Logout: a user unbinds only its own login, not another user's who held the phone since.
    let only_from = match &caller {
        Caller::User(user) => Some(user.as_str()),
        Caller::Server { .. } => None,
    };
    if only_from.is_some() && device.user_id.as_deref() != only_from {
        return Err(ApiError::Forbidden(format!(
            "device `{push_id}` is not bound to this user"
        )));
    }
    state.store.unbind(&app_id, &push_id, only_from)?;
    state.store.flush()?;
    Ok(HttpResponse::NoContent().finish())
}

async fn devices_of(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, user_id) = path.into_inner();
    let caller = state.caller(&req, &app_id)?;
    if matches!(&caller, Caller::User(user) if *user != user_id) {
        return Err(ApiError::Forbidden(format!(
            "a user token lists its own user's devices only, not `{user_id}`'s"
        )));
    }
    let devices: Vec<DeviceView> = state
        .store
        .devices_of(&app_id, &user_id)?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "devices": devices })))
}
