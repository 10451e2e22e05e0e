//! APNs token-based auth: an ES256 JWT (`kid`, `iss`, `iat`) sent as the bearer token itself.
//! Apple wants it refreshed no more often than every 20 minutes and no less than every 60;
//! pushmesh makes a new one every 50 minutes (and when APNs says ExpiredProviderToken), shared
//! by every request and connection of the app.

use pushmesh_contract::now_ms;
use pushmesh_dispatch::{AuthError, Credential};
use serde::Serialize;
use std::time::Duration;

const LIFETIME: Duration = Duration::from_secs(50 * 60);

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

pub struct Auth {
    team_id: String,
    key_id: String,
    key: jsonwebtoken::EncodingKey,
}

impl Auth {
    pub fn new(team_id: String, key_id: String, key: jsonwebtoken::EncodingKey) -> Self {
        Auth {
            team_id,
            key_id,
            key,
        }
    }

    /// A freshly signed provider token.
    pub fn sign(&self) -> Result<Credential, AuthError> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        header.typ = None;
        let claims = Claims {
            iss: &self.team_id,
            iat: now_ms() / 1000,
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| AuthError::Sign(e.to_string()))?;
        tracing::info!(key_id = %self.key_id, "APNs provider token made");
        Ok(Credential::expiring(jwt, LIFETIME, Duration::ZERO))
    }
}
