//! OPPO's return codes, in one table (OPPO's "common return codes" page).

use pushmesh_contract::now_ms;
use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::support::until_next_china_day;
use pushmesh_dispatch::{Answer, Attempt};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize, Default)]
struct Reply {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Value,
}

/// What one code means for every push of the request.
fn by_code(code: i64, detail: String) -> Option<Attempt> {
    Some(match code {
        0 => return None,
        10000 => Attempt::InvalidToken { detail },
        // Daily message limit: wait for OPPO's next day.
        33 => Attempt::Defer {
            wait: until_next_china_day(now_ms()),
            detail,
        },
        -2 | 13 | 55 | -1 => Attempt::retry(detail),
        _ => Attempt::Rejected { detail },
    })
}

pub fn classify(status: u16, body: &[u8], pushes: &[DevicePush], batch: bool) -> Answer {
    let all = |a: Attempt| Answer::Done(vec![a; pushes.len()]);
    if status >= 500 {
        return all(Attempt::retry(format!("OPPO HTTP {status}")));
    }
    let Ok(reply) = serde_json::from_slice::<Reply>(body) else {
        return all(Attempt::retry(format!("OPPO HTTP {status}: not JSON")));
    };
    let detail = format!("OPPO {}: {}", reply.code, reply.message);
    if matches!(reply.code, 11 | 29) {
        return Answer::AuthExpired;
    }
    if let Some(a) = by_code(reply.code, detail) {
        return all(a);
    }
    if !batch {
        let id = reply.data["messageId"].as_str().map(String::from);
        return all(Attempt::Delivered {
            vendor_message_id: id,
        });
    }
    // unicast_batch: one result per registration id, `errorCode` on the failed ones.
    let items = reply.data.as_array().cloned().unwrap_or_default();
    Answer::Done(
        pushes
            .iter()
            .map(|p| {
                let item = items
                    .iter()
                    .find(|i| i["registrationId"] == p.token.as_str());
                match item {
                    None => {
                        Attempt::retry("OPPO batch answer has no result for this registration id")
                    }
                    Some(i) => match i["errorCode"].as_i64() {
                        None | Some(0) => Attempt::Delivered {
                            vendor_message_id: i["messageId"].as_str().map(String::from),
                        },
                        Some(code) => by_code(
                            code,
                            format!(
                                "OPPO {code}: {}",
                                i["errorMessage"].as_str().unwrap_or_default()
                            ),
                        )
                        .unwrap_or(Attempt::Delivered {
                            vendor_message_id: None,
                        }),
                    },
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushmesh_contract::Vendor;

    fn pushes(tokens: &[&str]) -> Vec<DevicePush> {
        pushmesh_dispatch::testing::pushes(Vendor::Oppo, tokens)
    }

    fn labels(a: Answer) -> Vec<&'static str> {
        match a {
            Answer::Done(a) => a.iter().map(Attempt::label).collect(),
            Answer::AuthExpired => vec!["auth"],
        }
    }

    #[test]
    fn return_codes() {
        let one = pushes(&["r1"]);
        assert_eq!(
            labels(classify(
                200,
                br#"{"code":0,"data":{"messageId":"x"}}"#,
                &one,
                false
            )),
            ["delivered"]
        );
        assert_eq!(
            labels(classify(
                200,
                br#"{"code":10000,"message":"bad regid"}"#,
                &one,
                false
            )),
            ["invalid_token"]
        );
        assert_eq!(
            labels(classify(
                200,
                br#"{"code":11,"message":"Invalid AuthToken"}"#,
                &one,
                false
            )),
            ["auth"]
        );
        assert_eq!(
            labels(classify(
                200,
                br#"{"code":-2,"message":"flow control"}"#,
                &one,
                false
            )),
            ["retry"]
        );
        assert_eq!(
            labels(classify(
                200,
                br#"{"code":41,"message":"bad args"}"#,
                &one,
                false
            )),
            ["rejected"]
        );
        let quota = classify(200, br#"{"code":33,"message":"daily limit"}"#, &one, false);
        assert!(matches!(quota, Answer::Done(ref a) if matches!(a[0], Attempt::Defer { .. })));
        let two = pushes(&["r1", "r2"]);
        let batch = br#"{"code":0,"data":[{"messageId":"a","registrationId":"r1"},{"registrationId":"r2","errorCode":10000,"errorMessage":"invalid"}]}"#;
        assert_eq!(
            labels(classify(200, batch, &two, true)),
            ["delivered", "invalid_token"]
        );
        assert_eq!(labels(classify(502, b"", &two, true)), ["retry"; 2]);
    }
}
