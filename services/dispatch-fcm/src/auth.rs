//! FCM auth as Google documents it for service accounts: an RS256 JWT assertion exchanged at
//! the token endpoint for an OAuth access token, cached and refreshed before it expires.

use crate::settings::ServiceAccount;
use pushmesh_contract::now_ms;
use pushmesh_dispatch::token::TokenCache;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// Google caps an assertion at one hour.
const ASSERTION_LIFETIME_S: u64 = 3600;
/// Refresh this long before the access token expires, so no request carries a dying token.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot sign the JWT assertion: {0}")]
    Sign(String),
    #[error("token endpoint unreachable: {0}")]
    Http(String),
    #[error("token endpoint answered {status}: {body}")]
    Refused { status: u16, body: String },
}

impl AuthError {
    /// A refusal with 4xx means the credentials are wrong: retrying will not fix it.
    pub fn is_permanent(&self) -> bool {
        matches!(self, AuthError::Refused { status, .. } if (400..500).contains(status) && *status != 429)
    }
}

pub struct Auth {
    account: ServiceAccount,
    key: jsonwebtoken::EncodingKey,
    token_url: String,
    http: reqwest::Client,
    cache: TokenCache,
}

impl Auth {
    pub fn new(
        account: ServiceAccount,
        token_url: Option<String>,
        http: reqwest::Client,
    ) -> Result<Self, AuthError> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|e| AuthError::Sign(e.to_string()))?;
        let token_url = token_url.unwrap_or_else(|| account.token_uri.clone());
        Ok(Auth {
            account,
            key,
            token_url,
            http,
            cache: TokenCache::new(REFRESH_MARGIN),
        })
    }

    pub async fn access_token(&self) -> Result<String, AuthError> {
        self.cache.get(|| self.fetch()).await
    }

    /// FCM said the token is no longer valid: the next call fetches a new one.
    pub async fn invalidate(&self, token: &str) {
        self.cache.invalidate(token).await;
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

    async fn fetch(&self) -> Result<(String, Duration), AuthError> {
        let assertion = self.assertion()?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ];
        let resp = self
            .http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| AuthError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = resp.text().await.unwrap_or_default();
            return Err(AuthError::Refused { status, body });
        }
        let token: TokenResponse = resp
            .json()
            .await
            .map_err(|e| AuthError::Http(e.to_string()))?;
        tracing::info!(expires_in = token.expires_in, "FCM access token obtained");
        Ok((token.access_token, Duration::from_secs(token.expires_in)))
    }
}
