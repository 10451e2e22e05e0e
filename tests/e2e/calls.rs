//! Calls, as an IM server makes them: an invite rings every offline invitee's phone through its
//! vendor's call class and no longer than the call rings; an online invitee and the inviter get
//! no push.

use pushmesh_contract::now_ms;
use pushmesh_contract::public::{CallEvent, OutcomeStatus};
use pushmesh_tests::Mesh;
use serde_json::{json, Value};

const VENDORS: [&str; 7] = ["fcm", "apns", "huawei", "xiaomi", "oppo", "vivo", "honor"];

/// A token the vendor takes for well-formed (APNs': 64 hex digits).
fn token(vendor: &str, user: &str) -> String {
    match vendor {
        "apns" => format!(
            "{:0>64}",
            user.bytes().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        _ => format!("{vendor}-{user}"),
    }
}

async fn invite(mesh: &Mesh, call_id: &str, invitees: &[&str], timeout_s: u64) {
    mesh.publish(
        "im.call.invite",
        json!({
            "app_id": "demo", "call_id": call_id, "inviter_id": "alice", "invitees": invitees,
            "timeout_s": timeout_s, "push": {"title": "Alice", "content": "Incoming call", "payload": "{\"room\":7}"}
        }),
    )
    .await;
}

/// The recorded request of `vendor` to `token`.
async fn request_to(mesh: &Mesh, vendor: &str, token: &str) -> Value {
    let sent = mesh.sim_messages(vendor).await;
    sent.into_iter()
        .find(|r| r["tokens"].as_array().unwrap().iter().any(|t| t == token))
        .unwrap_or_else(|| panic!("no {vendor} request to {token}"))["body"]
        .clone()
}

/// The call's fields where each vendor's app reads its data.
fn call_data(vendor: &str, body: &Value) -> (Value, Value) {
    let parse = |s: &Value| serde_json::from_str::<Value>(s.as_str().unwrap()).unwrap();
    let data = match vendor {
        "fcm" => body["message"]["data"].clone(),
        "apns" => body["payload"].clone(),
        "huawei" => parse(&body["message"]["data"]),
        "honor" => parse(&body["data"]),
        "xiaomi" => {
            json!({"call_id": body["extra.call_id"], "call_event": body["extra.call_event"]})
        }
        "oppo" => parse(&body["notification"]["action_parameters"]),
        "vivo" => body["clientCustomMap"].clone(),
        _ => unreachable!(),
    };
    (data["call_id"].clone(), data["call_event"].clone())
}

/// What each vendor's request says about the call's class and how long it may wait.
fn check_call_class(vendor: &str, body: &Value) {
    let ttl_s = |s: &Value| {
        s.as_str()
            .unwrap()
            .trim_end_matches('s')
            .parse::<u64>()
            .unwrap()
    };
    match vendor {
        "fcm" => {
            let a = &body["message"]["android"];
            assert_eq!(a["priority"], "HIGH");
            assert_eq!(a["notification"]["notification_priority"], "PRIORITY_MAX");
            assert_eq!(a["notification"]["tag"], "call-1");
            assert!(ttl_s(&a["ttl"]) <= 60, "{a}");
        }
        "apns" => {
            let h = &body["headers"];
            assert_eq!(h["apns-priority"], "10");
            assert_eq!(h["apns-collapse-id"], "call-1");
            let expiration: u64 = h["apns-expiration"].as_str().unwrap().parse().unwrap();
            assert!(expiration <= now_ms() / 1000 + 60, "{h}");
        }
        "huawei" => {
            let a = &body["message"]["android"];
            assert_eq!(
                (a["category"].as_str(), a["urgency"].as_str()),
                (Some("VOIP"), Some("HIGH"))
            );
            assert!(ttl_s(&a["ttl"]) <= 60, "{a}");
        }
        "xiaomi" => {
            let ttl_ms: u64 = body["time_to_live"].as_str().unwrap().parse().unwrap();
            assert!(ttl_ms <= 60_000, "{body}");
            assert!(body["notify_id"].is_string(), "{body}");
        }
        "oppo" => {
            let n = &body["notification"];
            assert_eq!(n["category"], "IM");
            assert!(n["off_line_ttl"].as_u64().unwrap() <= 60);
            assert_eq!(
                n["show_ttl"], n["off_line_ttl"],
                "gone from the tray when the call ends"
            );
        }
        "vivo" => {
            assert_eq!(
                (body["classification"].as_u64(), body["category"].as_str()),
                (Some(1), Some("IM"))
            );
            assert_eq!(body["timeToLive"], 60, "vivo's least TTL");
        }
        "honor" => {
            let n = &body["android"]["notification"];
            assert_eq!(n["importance"], "NORMAL");
            assert!(n["notifyId"].is_u64(), "{n}");
            assert!(ttl_s(&body["android"]["ttl"]) <= 60);
        }
        _ => unreachable!(),
    }
}

#[actix_rt::test]
async fn an_invite_rings_each_offline_invitee_through_its_vendors_call_class() {
    let mesh = Mesh::start().await;
    for vendor in VENDORS {
        mesh.device(vendor, &token(vendor, vendor), vendor).await;
    }
    mesh.device("fcm", &token("fcm", "alice"), "alice").await;
    mesh.device("fcm", &token("fcm", "olive"), "olive").await;
    mesh.publish(
        "presence.online",
        json!({"app_id": "demo", "user_id": "olive", "session_id": "s1", "ttl_s": 60}),
    )
    .await;
    let mut invitees = VENDORS.to_vec();
    invitees.extend(["olive", "alice"]);
    invite(&mesh, "call-1", &invitees, 60).await;

    for vendor in VENDORS {
        let o = mesh
            .outcome("call-1", vendor, OutcomeStatus::Delivered)
            .await;
        assert_eq!(o.call_id.as_deref(), Some("call-1"));
        assert_eq!(o.call_event, Some(CallEvent::Invite));
        let body = request_to(&mesh, vendor, &token(vendor, vendor)).await;
        check_call_class(vendor, &body);
        assert_eq!(
            call_data(vendor, &body),
            (json!("call-1"), json!("invite")),
            "{vendor}"
        );
    }
    mesh.outcome("call-1", "olive", OutcomeStatus::Online).await;
    let fcm = mesh.sim_messages("fcm").await;
    let to = |user: &str| {
        fcm.iter()
            .filter(|r| r["tokens"][0] == token("fcm", user))
            .count()
    };
    assert_eq!(
        (to("alice"), to("olive")),
        (0, 0),
        "neither the inviter nor the online invitee"
    );
    assert!(
        mesh.outcomes().iter().all(|o| o.user_id != "alice"),
        "the inviter is no invitee"
    );
}
