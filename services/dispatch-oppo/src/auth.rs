//! OPPO auth: `sign = hex(sha256(app_key + timestamp + master_secret))` exchanged at
//! `/server/v1/auth` for an auth_token. The token lives 24 h; it is renewed an hour before it
//! ends, and at once on code 11.

use crate::settings::OppoSettings;
use pushmesh_contract::now_ms;
use pushmesh_dispatch::support::hex;
use pushmesh_dispatch::{AuthError, Credential};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::time::Duration;

const LIFETIME: Duration = Duration::from_secs(24 * 3600);
const RENEW_BEFORE_END: Duration = Duration::from_secs(3600);

pub struct Auth {
    url: String,
    app_key: String,
    master_secret: String,
}

#[derive(Deserialize)]
struct Answer {
    code: i64,
    #[serde(default)]
    message: String,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    auth_token: String,
}

pub fn sign(app_key: &str, timestamp: u64, master_secret: &str) -> String {
    hex(&Sha256::digest(format!(
        "{app_key}{timestamp}{master_secret}"
    )))
}

impl Auth {
    pub fn new(s: &OppoSettings) -> Self {
        Auth {
            url: format!("{}/server/v1/auth", s.base_url.trim_end_matches('/')),
            app_key: s.app_key.clone(),
            master_secret: s.master_secret.clone(),
        }
    }

    /// A fresh auth_token.
    pub async fn fetch(&self, http: &reqwest::Client) -> Result<Credential, AuthError> {
        let timestamp = now_ms();
        let sign = sign(&self.app_key, timestamp, &self.master_secret);
        let form = [
            ("app_key", self.app_key.clone()),
            ("timestamp", timestamp.to_string()),
            ("sign", sign),
        ];
        let resp = http
            .post(&self.url)
            .form(&form)
            .send()
            .await
            .map_err(|e| AuthError::Http(pushmesh_dispatch::support::causes(&e)))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| AuthError::Http(pushmesh_dispatch::support::causes(&e)))?;
        match serde_json::from_slice::<Answer>(&body) {
            Ok(Answer {
                code: 0,
                data: Some(d),
                ..
            }) => Ok(Credential::expiring(
                d.auth_token,
                LIFETIME,
                RENEW_BEFORE_END,
            )),
            // Codes 14-19 are a wrong key, signature or timestamp: configuration, not luck.
            Ok(a) => Err(AuthError::Refused {
                status: if (14..=19).contains(&a.code) {
                    400
                } else {
                    503
                },
                body: format!("OPPO auth {}: {}", a.code, a.message),
            }),
            Err(_) => Err(AuthError::Refused {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sign_is_lowercase_hex_sha256_of_the_concatenation() {
        // sha256("k1700000000000s") computed independently with `printf %s k1700000000000s | sha256sum`.
        assert_eq!(
            super::sign("k", 1_700_000_000_000, "s"),
            "ea69308234fc809599f8b5934fae803c77be085338d5c57d31e2fd18afe3752e"
        );
    }
}
