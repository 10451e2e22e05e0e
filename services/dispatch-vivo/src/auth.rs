//! vivo auth: `sign = lower(md5(appId + appKey + timestamp + appSecret))` exchanged at
//! `/message/auth` for an authToken. It lives a day, but vivo caps auth calls, so it is renewed
//! hourly (vivo's advice) and at once when a send says it expired.

use crate::settings::VivoSettings;
use md5::{Digest, Md5};
use pushmesh_contract::now_ms;
use pushmesh_dispatch::support::hex;
use pushmesh_dispatch::{AuthError, Credential};
use serde::Deserialize;
use std::time::Duration;

const RENEW_EVERY: Duration = Duration::from_secs(3600);

pub fn sign(app_id: u64, app_key: &str, timestamp: u64, app_secret: &str) -> String {
    hex(&Md5::digest(
        format!("{app_id}{app_key}{timestamp}{app_secret}").trim(),
    ))
}

#[derive(Deserialize)]
struct Answer {
    result: i64,
    #[serde(default)]
    desc: String,
    #[serde(rename = "authToken")]
    auth_token: Option<String>,
}

pub struct Auth {
    url: String,
    app_id: u64,
    app_key: String,
    app_secret: String,
}

impl Auth {
    pub fn new(s: &VivoSettings) -> Self {
        Auth {
            url: format!("{}/message/auth", s.base_url.trim_end_matches('/')),
            app_id: s.app_id,
            app_key: s.app_key.clone(),
            app_secret: s.app_secret.clone(),
        }
    }

    /// A fresh authToken.
    pub async fn fetch(&self, http: &reqwest::Client) -> Result<Credential, AuthError> {
        let timestamp = now_ms();
        let body = serde_json::json!({
            "appId": self.app_id,
            "appKey": self.app_key,
            "timestamp": timestamp,
            "sign": sign(self.app_id, &self.app_key, timestamp, &self.app_secret),
        });
        let resp = http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| AuthError::Http(pushmesh_dispatch::support::causes(&e)))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| AuthError::Http(pushmesh_dispatch::support::causes(&e)))?;
        match serde_json::from_slice::<Answer>(&bytes) {
            Ok(Answer {
                result: 0,
                auth_token: Some(t),
                ..
            }) => Ok(Credential::expiring(t, RENEW_EVERY, Duration::ZERO)),
            // 10200-10207: empty or wrong id, key, timestamp or sign; 10250: auth call cap.
            Ok(a) => Err(AuthError::Refused {
                status: if (10200..=10207).contains(&a.result) {
                    400
                } else {
                    503
                },
                body: format!("vivo auth {}: {}", a.result, a.desc),
            }),
            Err(_) => Err(AuthError::Refused {
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sign_is_lowercase_hex_md5_of_the_concatenation() {
        // `printf %s 1k1700000000000s | md5sum`
        assert_eq!(
            super::sign(1, "k", 1_700_000_000_000, "s"),
            "c56605fa73035d6342aa216f25580e38"
        );
    }
}
