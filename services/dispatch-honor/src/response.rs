//! Honor's answers, in one table. Honor's public facts conflict (see docs/vendors/honor.md);
//! this follows the `sendMessage` API: `{code, message, data: {sendResult, requestId,
//! failTokens, expireTokens}}`.

use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::{Answer, Attempt};
use serde::Deserialize;

#[derive(Deserialize, Default)]
struct Reply {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Data,
}

#[derive(Deserialize, Default)]
struct Data {
    #[serde(rename = "requestId", default)]
    request_id: Option<String>,
    #[serde(rename = "failTokens", default)]
    fail_tokens: Vec<String>,
    #[serde(rename = "expireTokens", default)]
    expire_tokens: Vec<String>,
}

pub fn classify(status: u16, body: &[u8], pushes: &[DevicePush]) -> Answer {
    let all = |a: Attempt| Answer::Done(vec![a; pushes.len()]);
    let reply: Reply = serde_json::from_slice(body).unwrap_or_default();
    let detail = format!("Honor {status} {}: {}", reply.code, reply.message);
    match (status, reply.code) {
        (401, _) | (_, 80200003 | 80200001) => Answer::AuthExpired,
        (200, 200) => Answer::Done(
            pushes
                .iter()
                .map(|p| {
                    if reply.data.expire_tokens.contains(&p.token) {
                        Attempt::InvalidToken {
                            detail: "Honor: expired token".into(),
                        }
                    } else if reply.data.fail_tokens.contains(&p.token) {
                        Attempt::retry("Honor: send to this token failed")
                    } else {
                        Attempt::Delivered {
                            vendor_message_id: reply.data.request_id.clone(),
                        }
                    }
                })
                .collect(),
        ),
        (_, 80300007) => all(Attempt::InvalidToken { detail }),
        (s, _) if s == 429 || s >= 500 => all(Attempt::retry(detail)),
        (_, 81000001) => all(Attempt::retry(detail)),
        _ => all(Attempt::Rejected { detail }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushmesh_contract::Vendor;

    fn pushes(tokens: &[&str]) -> Vec<DevicePush> {
        pushmesh_dispatch::testing::pushes(Vendor::Honor, tokens)
    }

    fn labels(a: Answer) -> Vec<&'static str> {
        match a {
            Answer::Done(a) => a.iter().map(Attempt::label).collect(),
            Answer::AuthExpired => vec!["auth"],
        }
    }

    #[test]
    fn answers() {
        let p = pushes(&["a", "b", "c"]);
        let mixed = br#"{"code":200,"message":"ok","data":{"sendResult":true,"requestId":"r","failTokens":["b"],"expireTokens":["c"]}}"#;
        assert_eq!(
            labels(classify(200, mixed, &p)),
            ["delivered", "retry", "invalid_token"]
        );
        assert_eq!(labels(classify(401, b"", &p)), ["auth"]);
        assert_eq!(labels(classify(503, b"", &p)), ["retry"; 3]);
        assert_eq!(
            labels(classify(400, br#"{"code":80100003,"message":"bad"}"#, &p)),
            ["rejected"; 3]
        );
    }
}
