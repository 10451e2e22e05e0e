//! MiPush answers, in one table (Xiaomi's error-code page and the official SDK's ErrorCode).

use pushmesh_contract::now_ms;
use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::support::until_next_china_day;
use pushmesh_dispatch::Attempt;
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Deserialize, Default)]
struct Answer {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    data: Data,
}

#[derive(Deserialize, Default)]
struct Data {
    #[serde(default)]
    id: Option<String>,
    /// Comma-separated regids that are invalid.
    #[serde(default)]
    bad_regids: Option<String>,
}

pub fn classify(status: u16, body: &[u8], pushes: &[DevicePush]) -> Vec<Attempt> {
    let all = |a: Attempt| vec![a; pushes.len()];
    if status != 200 {
        return all(Attempt::retry(format!("Xiaomi HTTP {status}")));
    }
    let Ok(answer) = serde_json::from_slice::<Answer>(body) else {
        return all(Attempt::retry("Xiaomi answered something that is not JSON"));
    };
    let detail = format!("Xiaomi {}: {}", answer.code, answer.reason);
    match answer.code {
        0 => {
            let bad = answer.data.bad_regids.unwrap_or_default();
            let bad: HashSet<&str> = bad.split(',').filter(|s| !s.is_empty()).collect();
            pushes
                .iter()
                .map(|p| {
                    if bad.contains(p.token.as_str()) {
                        Attempt::InvalidToken {
                            detail: "Xiaomi: bad regid".into(),
                        }
                    } else {
                        Attempt::Delivered {
                            vendor_message_id: answer.data.id.clone(),
                        }
                    }
                })
                .collect()
        }
        20301 if answer.reason.contains("No valid targets") => {
            all(Attempt::InvalidToken { detail })
        }
        // Daily quota: wait for Xiaomi's next day rather than be refused all day.
        200001 | 10034 => all(Attempt::Defer {
            wait: until_next_china_day(now_ms()),
            detail,
        }),
        10022 | 10023 | 10024 | 10027 | 26004 => all(Attempt::retry(detail)),
        -1 | 1 | 10001 | 10002 | 10003 | 10037 | 26003 | 65029 => all(Attempt::retry(detail)),
        _ => all(Attempt::Rejected { detail }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushmesh_contract::Vendor;

    fn pushes(tokens: &[&str]) -> Vec<DevicePush> {
        pushmesh_dispatch::testing::pushes(Vendor::Xiaomi, tokens)
    }

    fn labels(a: Vec<Attempt>) -> Vec<&'static str> {
        a.iter().map(Attempt::label).collect()
    }

    #[test]
    fn result_codes() {
        let p = pushes(&["r1", "r2"]);
        let ok = br#"{"result":"ok","code":0,"data":{"id":"sdm1","bad_regids":"r2"},"description":"ok"}"#;
        assert_eq!(
            labels(classify(200, ok, &p)),
            ["delivered", "invalid_token"]
        );
        let none = br#"{"result":"error","code":20301,"reason":"No valid targets!"}"#;
        assert_eq!(labels(classify(200, none, &p)), ["invalid_token"; 2]);
        let other_20301 = br#"{"result":"error","code":20301,"reason":"send failed"}"#;
        assert_eq!(labels(classify(200, other_20301, &p)), ["rejected"; 2]);
        let quota = classify(
            200,
            br#"{"result":"error","code":200001,"reason":"exceed quota"}"#,
            &p,
        );
        assert!(matches!(&quota[0], Attempt::Defer { wait, .. } if wait.as_secs() <= 86_400));
        assert_eq!(
            labels(classify(200, br#"{"code":10002,"reason":"busy"}"#, &p)),
            ["retry"; 2]
        );
        assert_eq!(labels(classify(502, b"", &p)), ["retry"; 2]);
        assert_eq!(
            labels(classify(
                200,
                br#"{"code":21301,"reason":"auth failed"}"#,
                &p
            )),
            ["rejected"; 2]
        );
    }
}
