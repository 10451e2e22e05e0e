//! FCM auth as Google documents it for service accounts: an RS256 JWT assertion exchanged at
//! the token endpoint for an OAuth access token, cached and refreshed before it expires.

use crate::settings::ServiceAccount;
use pushmesh_contract::now_ms;
use pushmesh_dispatch::auth::{oauth_token, AuthError, TokenSource};
use pushmesh_dispatch::token::TokenCache;
use serde::Serialize;
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
        let (token, lifetime) = oauth_token(&self.http, &self.token_url, &form).await?;
        tracing::info!(
            expires_in_s = lifetime.as_secs(),
            "FCM access token obtained"
        );
        Ok((token, lifetime))
    }
}

impl TokenSource for Auth {
    async fn token(&self) -> Result<String, AuthError> {
        self.cache.get(|| self.fetch()).await
    }

    async fn invalidate(&self, token: &str) {
        self.cache.invalidate(token).await;
    }
}
