//! vivo's result codes, in one table. Codes marked [U] in docs/vendors/vivo.md come from
//! unofficial clients only.

use pushmesh_contract::now_ms;
use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::support::until_next_china_day;
use pushmesh_dispatch::{Answer, Attempt};
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Deserialize, Default)]
struct Reply {
    #[serde(default)]
    result: i64,
    #[serde(default)]
    desc: String,
    #[serde(rename = "taskId", default)]
    task_id: Option<String>,
    #[serde(rename = "invalidUser", default)]
    invalid_user: Option<InvalidUser>,
    #[serde(rename = "invalidUsers", default)]
    invalid_users: Vec<InvalidUser>,
}

#[derive(Deserialize, Default)]
struct InvalidUser {
    userid: String,
    status: i64,
}

/// The outcome of a reply that is not a success, for every push; None on success.
fn failure(status: u16, reply: &Reply) -> Option<Answer> {
    let detail = format!("vivo {}: {}", reply.result, reply.desc);
    let a = match (status, reply.result) {
        (s, _) if s >= 500 => Attempt::retry(format!("vivo HTTP {s}")),
        (_, 0) => return None,
        (_, 10000) => return Some(Answer::AuthExpired),
        (_, 10302) => Attempt::InvalidToken { detail },
        // Daily totals: stop until vivo's next day (calling on makes vivo cut the quota).
        (_, 10070 | 10252 | 10254) => Attempt::Defer {
            wait: until_next_china_day(now_ms()),
            detail,
        },
        (_, 10072 | 10093) => Attempt::retry(detail),
        _ => Attempt::Rejected { detail },
    };
    Some(Answer::Done(vec![a]))
}

fn parse(body: &[u8]) -> Reply {
    serde_json::from_slice(body).unwrap_or_else(|_| Reply {
        result: -1,
        desc: "not JSON".into(),
        ..Default::default()
    })
}

/// The task id of a successful saveListPayload, or the answer for every push.
pub fn task_id(status: u16, body: &[u8], n: usize) -> Result<String, Answer> {
    let reply = parse(body);
    match failure(status, &reply) {
        Some(answer) => Err(widen(answer, n)),
        None => reply
            .task_id
            .ok_or_else(|| Answer::Done(vec![Attempt::retry("vivo gave no taskId"); n])),
    }
}

/// The answer of `/message/send` or `/message/pushToList`: invalid users (status 1: no such
/// user, 2: uninstalled or unsubscribed) lose their devices, the others were delivered.
pub fn classify(status: u16, body: &[u8], pushes: &[DevicePush]) -> Answer {
    let reply = parse(body);
    if let Some(answer) = failure(status, &reply) {
        return widen(answer, pushes.len());
    }
    let invalid: HashSet<&str> = reply
        .invalid_user
        .iter()
        .chain(&reply.invalid_users)
        .filter(|u| matches!(u.status, 1 | 2))
        .map(|u| u.userid.as_str())
        .collect();
    Answer::Done(
        pushes
            .iter()
            .map(|p| {
                if invalid.contains(p.token.as_str()) {
                    Attempt::InvalidToken {
                        detail: "vivo: invalid user (uninstalled or unknown regId)".into(),
                    }
                } else {
                    Attempt::Delivered {
                        vendor_message_id: reply.task_id.clone(),
                    }
                }
            })
            .collect(),
    )
}

fn widen(answer: Answer, n: usize) -> Answer {
    match answer {
        Answer::Done(a) => Answer::Done(vec![a[0].clone(); n]),
        auth => auth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushmesh_contract::Vendor;

    fn pushes(tokens: &[&str]) -> Vec<DevicePush> {
        pushmesh_dispatch::testing::pushes(Vendor::Vivo, tokens)
    }

    fn labels(a: Answer) -> Vec<&'static str> {
        match a {
            Answer::Done(a) => a.iter().map(Attempt::label).collect(),
            Answer::AuthExpired => vec!["auth"],
        }
    }

    #[test]
    fn result_codes() {
        let p = pushes(&["r1", "r2"]);
        let ok = br#"{"result":0,"desc":"ok","taskId":"t1","invalidUsers":[{"userid":"r2","status":2}]}"#;
        assert_eq!(
            labels(classify(200, ok, &p)),
            ["delivered", "invalid_token"]
        );
        let not_test_user =
            br#"{"result":0,"taskId":"t1","invalidUser":{"userid":"r1","status":4}}"#;
        assert_eq!(labels(classify(200, not_test_user, &p)), ["delivered"; 2]);
        assert_eq!(
            labels(classify(200, br#"{"result":10000,"desc":"auth"}"#, &p)),
            ["auth"]
        );
        assert_eq!(
            labels(classify(200, br#"{"result":10302,"desc":"bad regId"}"#, &p)),
            ["invalid_token"; 2]
        );
        assert_eq!(
            labels(classify(
                200,
                br#"{"result":10070,"desc":"total exceeded"}"#,
                &p
            )),
            ["deferred"; 2]
        );
        assert_eq!(labels(classify(503, b"", &p)), ["retry"; 2]);
        assert_eq!(
            labels(classify(
                200,
                br#"{"result":10096,"desc":"bad category"}"#,
                &p
            )),
            ["rejected"; 2]
        );
        assert!(task_id(200, br#"{"result":0,"taskId":"t9"}"#, 2).is_ok_and(|t| t == "t9"));
    }
}
