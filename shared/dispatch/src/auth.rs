//! What vendor auth modules share: the error type and the OAuth token answer
//! (`{access_token, expires_in}`), used by FCM, Huawei and Honor alike.

use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot build the credential: {0}")]
    Sign(String),
    #[error("auth endpoint unreachable: {0}")]
    Http(String),
    #[error("auth endpoint answered {status}: {body}")]
    Refused { status: u16, body: String },
}

impl AuthError {
    /// A 4xx refusal means the credentials are wrong: retrying will not fix it.
    pub fn is_permanent(&self) -> bool {
        matches!(self, AuthError::Refused { status, .. } if (400..500).contains(status) && *status != 429)
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// Posts `form` to an OAuth token endpoint; returns the access token and its lifetime.
pub async fn oauth_token(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<(String, Duration), AuthError> {
    let resp = http
        .post(url)
        .form(form)
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
        .map_err(|e| AuthError::Http(format!("unreadable token answer: {e}")))?;
    Ok((token.access_token, Duration::from_secs(token.expires_in)))
}

/// A vendor credential that can be fetched and, when the vendor refuses it, dropped.
pub trait TokenSource {
    fn token(&self) -> impl std::future::Future<Output = Result<String, AuthError>> + Send;
    fn invalidate(&self, token: &str) -> impl std::future::Future<Output = ()> + Send;
}

/// A vendor's answer to one request: final, or "your credential went stale".
pub enum Answer {
    Done(Vec<crate::Attempt>),
    AuthExpired,
}

/// Sends with the current credential; if the vendor says it went stale, drops it, fetches a new
/// one and sends once more (a second refusal becomes a broker retry). `n`: pushes in the request.
pub async fn send_authorized<S, F, Fut>(
    vendor: &str,
    auth: &S,
    n: usize,
    mut send: F,
) -> Vec<crate::Attempt>
where
    S: TokenSource,
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    use crate::Attempt;
    for _ in 0..2 {
        let token = match auth.token().await {
            Ok(t) => t,
            Err(e) if e.is_permanent() => {
                return vec![
                    Attempt::Rejected {
                        detail: format!("{vendor} auth: {e}")
                    };
                    n
                ]
            }
            Err(e) => return vec![Attempt::retry(format!("{vendor} auth: {e}")); n],
        };
        match send(token.clone()).await {
            Answer::Done(attempts) => return attempts,
            Answer::AuthExpired => {
                tracing::info!(vendor, "vendor refused the access token, refreshing it");
                auth.invalidate(&token).await;
            }
        }
    }
    vec![Attempt::retry(format!("{vendor} refused a freshly obtained access token")); n]
}

/// OAuth 2.0 client credentials (`grant_type=client_credentials`, client id and secret), the
/// access token cached until 5 minutes before `expires_in`: Huawei's and Honor's auth.
pub struct ClientCredentials {
    url: String,
    client_id: String,
    client_secret: String,
    http: reqwest::Client,
    cache: crate::token::TokenCache,
}

impl ClientCredentials {
    pub fn new(url: &str, client_id: &str, client_secret: &str, http: reqwest::Client) -> Self {
        ClientCredentials {
            url: url.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            http,
            cache: crate::token::TokenCache::new(Duration::from_secs(300)),
        }
    }
}

impl TokenSource for ClientCredentials {
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
