//! Credentials: what a vendor's `authorize` returns, its error, and the OAuth token request
//! FCM, Huawei and Honor share. The vendor actor holds the one credential of its app, asks for
//! a new one when it is due or the vendor refused it, and never asks twice at once.

use pushmesh_contract::now_ms;
use serde::Deserialize;
use std::time::Duration;

/// A credential and until when it may be used (wall-clock ms; `u64::MAX` for a static key).
/// Vendors set `use_until_ms` a margin before the real expiry, so no request carries a
/// credential that dies on its way.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub token: String,
    pub use_until_ms: u64,
}

impl Credential {
    /// A credential good for `lifetime` less `margin`, from now.
    pub fn expiring(token: String, lifetime: Duration, margin: Duration) -> Self {
        let usable = lifetime.saturating_sub(margin).as_millis() as u64;
        Credential {
            token,
            use_until_ms: now_ms().saturating_add(usable),
        }
    }

    /// A key that never expires (Xiaomi's AppSecret).
    pub fn fixed(token: String) -> Self {
        Credential {
            token,
            use_until_ms: u64::MAX,
        }
    }

    pub fn is_valid(&self, now_ms: u64) -> bool {
        now_ms < self.use_until_ms
    }
}

/// Never printed: a credential is a secret.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("use_until_ms", &self.use_until_ms)
            .finish_non_exhaustive()
    }
}

/// A vendor's answer to one request: final, or "your credential went stale".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Done(Vec<crate::Attempt>),
    AuthExpired,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("cannot build the credential: {0}")]
    Sign(String),
    #[error("auth endpoint unreachable: {0}")]
    Http(String),
    #[error("auth endpoint answered {status}: {body}")]
    Refused { status: u16, body: String },
}

impl AuthError {
    /// A 4xx refusal (or a key that cannot sign) means the credentials are wrong: retrying
    /// will not fix it.
    pub fn is_permanent(&self) -> bool {
        match self {
            AuthError::Sign(_) => true,
            AuthError::Http(_) => false,
            AuthError::Refused { status, .. } => (400..500).contains(status) && *status != 429,
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// Posts `form` to an OAuth 2.0 token endpoint; the access token, usable until `margin` before
/// its `expires_in` ends.
pub async fn oauth_token(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
    margin: Duration,
) -> Result<Credential, AuthError> {
    let resp = http
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| AuthError::Http(crate::support::causes(&e)))?;
    let status = resp.status().as_u16();
    if status != 200 {
        let body = resp.text().await.unwrap_or_default();
        return Err(AuthError::Refused { status, body });
    }
    let token: TokenResponse = resp
        .json()
        .await
        .map_err(|e| AuthError::Http(format!("unreadable token answer: {e}")))?;
    let lifetime = Duration::from_secs(token.expires_in);
    Ok(Credential::expiring(token.access_token, lifetime, margin))
}

/// OAuth 2.0 client credentials (`grant_type=client_credentials`): Huawei's and Honor's auth,
/// renewed 5 minutes before the token ends.
pub async fn client_credentials(
    http: &reqwest::Client,
    url: &str,
    client_id: &str,
    client_secret: &str,
) -> Result<Credential, AuthError> {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", client_secret),
    ];
    oauth_token(http, url, &form, Duration::from_secs(300)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_used_until_its_margin_and_never_printed() {
        let c = Credential::expiring(
            "secret-token".into(),
            Duration::from_secs(3600),
            Duration::from_secs(300),
        );
        let now = now_ms();
        assert!(c.is_valid(now + 3_299_000));
        assert!(!c.is_valid(now + 3_301_000));
        assert!(!format!("{c:?}").contains("secret-token"));
        assert!(Credential::fixed("k".into()).is_valid(u64::MAX - 1));
    }

    #[test]
    fn only_a_refusal_of_the_credentials_is_permanent() {
        let refused = |status| AuthError::Refused {
            status,
            body: String::new(),
        };
        assert!(refused(401).is_permanent());
        assert!(!refused(429).is_permanent());
        assert!(!refused(503).is_permanent());
        assert!(!AuthError::Http("reset".into()).is_permanent());
        assert!(AuthError::Sign("bad key".into()).is_permanent());
    }
}
