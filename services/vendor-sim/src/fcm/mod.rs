//! FCM HTTP v1 and Google's OAuth token endpoint, strictly enough that a request a real FCM
//! would refuse is refused here too, with FCM's error shape.

mod oauth;
mod send;

use actix_web::web;

pub const VENDOR: &str = "fcm";
/// The `aud` Google requires in a service-account assertion, whatever URL the token request
/// is sent to.
pub const GOOGLE_TOKEN_AUD: &str = "https://oauth2.googleapis.com/token";

/// What the FCM stand-in needs to know.
pub struct FcmSim {
    pub public_key: Option<jsonwebtoken::DecodingKey>,
    pub access_token_ttl_s: u64,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/token", web::post().to(oauth::token)).route(
        "/v1/projects/{project}/messages:send",
        web::post().to(send::send),
    );
}

/// FCM's error body: `{"error": {code, message, status, details}}`.
pub fn error(
    code: u16,
    status: &str,
    message: &str,
    fcm_error: Option<&str>,
) -> actix_web::HttpResponse {
    let mut details = Vec::new();
    if let Some(e) = fcm_error {
        details.push(serde_json::json!({
            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
            "errorCode": e,
        }));
    }
    let http = actix_web::http::StatusCode::from_u16(code)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    actix_web::HttpResponse::build(http).json(serde_json::json!({
        "error": {"code": code, "message": message, "status": status, "details": details}
    }))
}
