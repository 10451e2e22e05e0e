//! Honor OAuth 2.0 client credentials: `grant_type=client_credentials` with the client id and
//! secret, an access token cached until shortly before `expires_in`.

use crate::settings::HonorSettings;
use pushmesh_dispatch::auth::{oauth_token, AuthError, TokenSource};
use pushmesh_dispatch::token::TokenCache;
use std::time::Duration;

pub struct Auth {
    url: String,
    client_id: String,
    client_secret: String,
    http: reqwest::Client,
    cache: TokenCache,
}

impl Auth {
    pub fn new(s: &HonorSettings, http: reqwest::Client) -> Self {
        Auth {
            url: s.auth_url.clone(),
            client_id: s.client_id.clone(),
            client_secret: s.client_secret.clone(),
            http,
            cache: TokenCache::new(Duration::from_secs(300)),
        }
    }
}

impl TokenSource for Auth {
    async fn token(&self) -> Result<String, AuthError> {
        self.cache
            .get(|| async {
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", self.client_id.as_str()),
                    ("client_secret", self.client_secret.as_str()),
                ];
                oauth_token(&self.http, &self.url, &form).await
            })
            .await
    }

    async fn invalidate(&self, token: &str) {
        self.cache.invalidate(token).await;
    }
}
