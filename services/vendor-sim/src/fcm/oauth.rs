//! `POST /token`: the JWT-bearer grant. Verifies the RS256 assertion against the configured
//! service-account public key, then issues an access token that expires.

use super::{FcmSim, GOOGLE_TOKEN_AUD, VENDOR};
use crate::state::SimState;
use actix_web::{web, HttpResponse};
use pushmesh_contract::now_ms;
use serde::Deserialize;

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/firebase.messaging",
    "https://www.googleapis.com/auth/cloud-platform",
];

#[derive(Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    assertion: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    scope: String,
    iat: u64,
    exp: u64,
}

fn invalid_grant(description: impl Into<String>) -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({
        "error": "invalid_grant",
        "error_description": description.into(),
    }))
}

pub async fn token(
    state: web::Data<SimState>,
    sim: web::Data<FcmSim>,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    if form.grant_type.as_deref() != Some(GRANT_TYPE) {
        return HttpResponse::BadRequest().json(serde_json::json!({
            "error": "unsupported_grant_type",
            "error_description": "Invalid grant_type",
        }));
    }
    let Some(assertion) = form.assertion.as_deref() else {
        return HttpResponse::BadRequest().json(serde_json::json!({
            "error": "invalid_request",
            "error_description": "Missing required parameter: assertion",
        }));
    };
    let Some(key) = &sim.public_key else {
        return invalid_grant(
            "vendor-sim has no service-account public key (vendor_sim.fcm_public_key_file)",
        );
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[GOOGLE_TOKEN_AUD]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let claims = match jsonwebtoken::decode::<Claims>(assertion, key, &validation) {
        Ok(data) => data.claims,
        Err(e) => return invalid_grant(format!("Invalid JWT: {e}")),
    };
    if claims.exp.saturating_sub(claims.iat) > 3600 {
        return invalid_grant("Invalid JWT: exp is more than one hour after iat");
    }
    if claims.iss.is_empty() {
        return invalid_grant("Invalid JWT: iss is empty");
    }
    if !claims.scope.split(' ').any(|s| SCOPES.contains(&s)) {
        return invalid_grant("Invalid JWT: scope does not allow Firebase Cloud Messaging");
    }
    let ttl = sim.access_token_ttl_s;
    let access_token = state.with(VENDOR, |v| v.issue_token(&claims.iss, ttl, now_ms()));
    HttpResponse::Ok().json(serde_json::json!({
        "access_token": access_token,
        "expires_in": ttl,
        "token_type": "Bearer",
    }))
}
