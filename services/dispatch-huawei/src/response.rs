//! Push Kit answers, in one table (result codes from Huawei's "Downlink messages" page).

use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::{Answer, Attempt};
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Deserialize, Default)]
struct Body {
    #[serde(default)]
    code: String,
    #[serde(default)]
    msg: String,
    #[serde(rename = "requestId", default)]
    request_id: Option<String>,
}

/// 80100000's `msg` is itself JSON: `{"success":3,"failure":1,"illegal_tokens":["..."]}`.
#[derive(Deserialize, Default)]
struct Partial {
    #[serde(default)]
    illegal_tokens: Vec<String>,
}

pub fn classify(status: u16, body: &[u8], pushes: &[DevicePush]) -> Answer {
    let answer: Body = serde_json::from_slice(body).unwrap_or_default();
    let detail = format!("Huawei {status} {}: {}", answer.code, answer.msg);
    let all = |a: Attempt| Answer::Done(vec![a; pushes.len()]);
    match (status, answer.code.as_str()) {
        (200, "80000000") => all(Attempt::Delivered {
            vendor_message_id: answer.request_id,
        }),
        (_, "80100000") => {
            let partial: Partial = serde_json::from_str(&answer.msg).unwrap_or_default();
            let illegal: HashSet<&str> =
                partial.illegal_tokens.iter().map(String::as_str).collect();
            Answer::Done(
                pushes
                    .iter()
                    .map(|p| {
                        if illegal.contains(p.token.as_str()) {
                            Attempt::InvalidToken {
                                detail: detail.clone(),
                            }
                        } else {
                            Attempt::Delivered {
                                vendor_message_id: answer.request_id.clone(),
                            }
                        }
                    })
                    .collect(),
            )
        }
        (_, "80300007") => all(Attempt::InvalidToken { detail }),
        // The access token is stale: renew it and send once more.
        (_, "80200003" | "80200001" | "80200005") => Answer::AuthExpired,
        (_, "81000001" | "80100017") => all(Attempt::retry(detail)),
        (503, _) => all(Attempt::retry(format!("{detail} (flow control)"))),
        (s, _) if s >= 500 => all(Attempt::retry(detail)),
        _ => all(Attempt::Rejected { detail }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushmesh_contract::Vendor;

    fn pushes(tokens: &[&str]) -> Vec<DevicePush> {
        pushmesh_dispatch::testing::pushes(Vendor::Huawei, tokens)
    }

    fn labels(c: Answer) -> Vec<&'static str> {
        match c {
            Answer::Done(a) => a.iter().map(Attempt::label).collect(),
            Answer::AuthExpired => vec!["auth"],
        }
    }

    #[test]
    fn result_codes() {
        let p = pushes(&["a", "b", "c"]);
        assert_eq!(
            labels(classify(
                200,
                br#"{"code":"80000000","msg":"Success","requestId":"r"}"#,
                &p
            )),
            ["delivered"; 3]
        );
        let partial = br#"{"code":"80100000","msg":"{\"success\":2,\"failure\":1,\"illegal_tokens\":[\"b\"]}","requestId":"r"}"#;
        assert_eq!(
            labels(classify(200, partial, &p)),
            ["delivered", "invalid_token", "delivered"]
        );
        assert_eq!(
            labels(classify(
                200,
                br#"{"code":"80300007","msg":"All the tokens are invalid"}"#,
                &p
            )),
            ["invalid_token"; 3]
        );
        assert_eq!(
            labels(classify(
                401,
                br#"{"code":"80200003","msg":"OAuth token expired"}"#,
                &p
            )),
            ["auth"]
        );
        assert_eq!(
            labels(classify(
                200,
                br#"{"code":"80300008","msg":"too large"}"#,
                &p
            )),
            ["rejected"; 3]
        );
        assert_eq!(
            labels(classify(
                500,
                br#"{"code":"81000001","msg":"internal"}"#,
                &p
            )),
            ["retry"; 3]
        );
        assert_eq!(labels(classify(503, b"", &p)), ["retry"; 3]);
        assert_eq!(
            labels(classify(
                400,
                br#"{"code":"80100003","msg":"bad structure"}"#,
                &p
            )),
            ["rejected"; 3]
        );
    }
}
