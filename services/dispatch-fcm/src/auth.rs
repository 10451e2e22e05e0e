//! FCM auth as Google documents it for service accounts: an RS256 JWT assertion exchanged at
//! the token endpoint for an OAuth access token, used until 5 minutes before it expires.

use crate::settings::ServiceAccount;
use pushmesh_contract::now_ms;
use pushmesh_dispatch::auth::{oauth_token, AuthError, Credential};
use serde::Serialize;
use std::time::Duration;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// Google caps an assertion at one hour.
const ASSERTION_LIFETIME_S: u64 = 3600;
/// Renew this long before the access token expires, so no request carries a dying token.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

pub struct Auth {
    account: ServiceAccount,
    key: jsonwebtoken::EncodingKey,
    token_url: String,
}

impl Auth {
    pub fn new(account: ServiceAccount, token_url: Option<String>) -> Result<Self, AuthError> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|e| AuthError::Sign(e.to_string()))?;
        let token_url = token_url.unwrap_or_else(|| account.token_uri.clone());
        Ok(Auth {
            account,
            key,
            token_url,
        })
    }

    fn assertion(&self) -> Result<String, AuthError> {
        let iat = now_ms() / 1000;
        let claims = Claims {
            iss: &self.account.client_email,
            scope: SCOPE,
            aud: &self.account.token_uri,
            iat,
            exp: iat + ASSERTION_LIFETIME_S,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.account.private_key_id.clone();
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| AuthError::Sign(e.to_string()))
    }

    /// A fresh access token.
    pub async fn fetch(&self, http: &reqwest::Client) -> Result<Credential, AuthError> {
        let assertion = self.assertion()?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ];
        let credential = oauth_token(http, &self.token_url, &form, REFRESH_MARGIN).await?;
        tracing::info!("FCM access token obtained");
        Ok(credential)
    }
}
