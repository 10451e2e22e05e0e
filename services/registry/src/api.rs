//! The device and server HTTP API (docs/contract.md). Every write is flushed before the answer.

use crate::store::{Device, DeviceStore, StoreError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use pushmesh_contract::Vendor;
use pushmesh_runtime::settings::check_id;
use pushmesh_runtime::Settings;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub struct ApiState {
    pub store: Arc<dyn DeviceStore>,
    pub settings: Arc<Settings>,
}

/// Every error the API answers, with its HTTP status and its stable `code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(String),
    #[error("app `{0}` is not configured")]
    UnknownApp(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid(_) => "invalid_request",
            ApiError::UnknownApp(_) => "unknown_app",
            ApiError::Store(StoreError::NotFound(_)) => "device_not_found",
            ApiError::Store(StoreError::TokenTaken(_)) => "token_taken",
            ApiError::Store(_) => "storage_unavailable",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::UnknownApp(_) | ApiError::Store(StoreError::NotFound(_)) => {
                StatusCode::NOT_FOUND
            }
            ApiError::Store(StoreError::TokenTaken(_)) => StatusCode::CONFLICT,
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(serde_json::json!({
            "error": {"code": self.code(), "message": self.to_string()}
        }))
    }
}

/// JSON bodies that fail to parse answer in the same error shape, naming the field.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(16 * 1024)
        .error_handler(|err, _| ApiError::Invalid(format!("invalid JSON body: {err}")).into())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/apps/{app_id}")
            .route("/devices", web::post().to(register))
            .route("/devices/{push_id}", web::put().to(update_token))
            .route("/devices/{push_id}", web::delete().to(unregister))
            .route("/devices/{push_id}/user", web::put().to(bind))
            .route("/devices/{push_id}/user", web::delete().to(unbind))
            .route("/users/{user_id}/devices", web::get().to(devices_of)),
    );
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

fn app(state: &ApiState, app_id: &str) -> Result<(), ApiError> {
    if !state.settings.is_known_app(app_id) {
        return Err(ApiError::UnknownApp(app_id.to_owned()));
    }
    Ok(())
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
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    let app_id = path.into_inner();
    app(&state, &app_id)?;
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
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
    body: web::Json<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, push_id) = path.into_inner();
    app(&state, &app_id)?;
    let body = body.into_inner();
    if body.token.is_none() && body.voip_token.is_none() {
        return Err(ApiError::Invalid(
            "token: give token, voip_token or both".into(),
        ));
    }
    if let Some(t) = &body.token {
        token("token", t)?;
        state.store.update_token(&app_id, &push_id, t)?;
    }
    if let Some(voip) = &body.voip_token {
        let device = state.store.get(&app_id, &push_id)?;
        let device = device.ok_or_else(|| StoreError::NotFound(push_id.clone()))?;
        voip_token(device.vendor, voip)?;
        state.store.set_voip_token(&app_id, &push_id, voip)?;
    }
    state.store.flush()?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "push_id": push_id })))
}

async fn unregister(
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, push_id) = path.into_inner();
    app(&state, &app_id)?;
    if !state.store.remove(&app_id, &push_id, None)? {
        return Err(StoreError::NotFound(push_id).into());
    }
    state.store.flush()?;
    Ok(HttpResponse::NoContent().finish())
}

async fn bind(
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
    body: web::Json<UserBody>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, push_id) = path.into_inner();
    app(&state, &app_id)?;
    id("user_id", &body.user_id)?;
    state.store.bind(&app_id, &push_id, &body.user_id)?;
    state.store.flush()?;
    Ok(HttpResponse::NoContent().finish())
}

async fn unbind(
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, push_id) = path.into_inner();
    app(&state, &app_id)?;
    state.store.unbind(&app_id, &push_id, None)?;
    state.store.flush()?;
    Ok(HttpResponse::NoContent().finish())
}

async fn devices_of(
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, user_id) = path.into_inner();
    app(&state, &app_id)?;
    let devices: Vec<DeviceView> = state
        .store
        .devices_of(&app_id, &user_id)?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "devices": devices })))
}
