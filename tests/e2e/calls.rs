//! Calls, as an IM server makes them: an invite rings every offline invitee's phone through its
//! vendor's call class and no longer than the call rings; an online invitee and the inviter get
//! no push.

use pushmesh_contract::now_ms;
use pushmesh_contract::public::{CallEvent, OutcomeStatus};
use pushmesh_tests::{wait_for, Mesh, MeshOptions};
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
    // A call's lane does not queue behind presence events: olive is online once presence says so.
    wait_for(
        "olive online",
        std::time::Duration::from_secs(10),
        || async {
            let path = "/v1/apps/demo/users/olive/sessions";
            let (_, body) = mesh.api(reqwest::Method::GET, path, None).await;
            (body["sessions"][0]["session_id"] == "s1").then_some(())
        },
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

async fn cancel(mesh: &Mesh, call_id: &str, invitees: Option<&[&str]>, push: Option<Value>) {
    let mut body = json!({"app_id": "demo", "call_id": call_id});
    if let Some(users) = invitees {
        body["invitees"] = json!(users);
    }
    if let Some(p) = push {
        body["push"] = p;
    }
    mesh.publish("im.call.cancel", body).await;
}

/// The FCM requests to `user`'s token, as (call_event, status).
async fn fcm_calls_to(mesh: &Mesh, user: &str) -> Vec<(String, u64)> {
    let token = token("fcm", user);
    mesh.sim_requests("fcm")
        .await
        .iter()
        .filter(|r| r["tokens"][0] == token)
        .map(|r| {
            let event = r["body"]["message"]["data"]["call_event"]
                .as_str()
                .unwrap_or("");
            (event.to_owned(), r["status"].as_u64().unwrap())
        })
        .collect()
}

/// The vendor fails, the invitation waits in a delay queue, the call is cancelled: when the
/// invitation comes back it is not sent.
#[actix_rt::test]
async fn a_cancel_stops_an_invitation_waiting_in_a_delay_queue() {
    let mesh = Mesh::start().await;
    mesh.device("fcm", &token("fcm", "bob"), "bob").await;
    mesh.sim_post("/sim/fcm/fault", json!({"status": 503, "count": 1}))
        .await;
    invite(&mesh, "call-r", &["bob"], 60).await;
    pushmesh_tests::wait_for(
        "the failed attempt",
        std::time::Duration::from_secs(10),
        || async { (!fcm_calls_to(&mesh, "bob").await.is_empty()).then_some(()) },
    )
    .await;
    cancel(&mesh, "call-r", None, None).await;
    let o = mesh
        .outcome("call-r", "bob", OutcomeStatus::Cancelled)
        .await;
    assert_eq!(o.vendor, "fcm");
    assert_eq!(
        fcm_calls_to(&mesh, "bob").await,
        [("invite".to_owned(), 503)],
        "never sent again"
    );
}

/// A cancel that arrives before its invite: no phone rings, each invitee's outcome says why.
#[actix_rt::test]
async fn a_cancel_that_overtook_its_invite_keeps_every_phone_quiet() {
    let mesh = Mesh::start().await;
    mesh.device("fcm", &token("fcm", "bob"), "bob").await;
    mesh.device("huawei", &token("huawei", "carol"), "carol")
        .await;
    let missed = json!({"title": "Missed call", "content": "from Alice"});
    cancel(&mesh, "call-o", None, Some(missed)).await;
    invite(&mesh, "call-o", &["bob", "carol"], 60).await;
    for user in ["bob", "carol"] {
        let o = mesh.outcomes_of("call-o", user, 2).await;
        let mut events: Vec<_> = o.iter().map(|o| (o.status, o.call_event)).collect();
        events.sort_by_key(|(s, _)| s.as_str());
        assert_eq!(
            events,
            [
                (OutcomeStatus::Cancelled, Some(CallEvent::Invite)),
                (OutcomeStatus::Delivered, Some(CallEvent::Missed)),
            ],
            "{user}: no ring, the missed call shown"
        );
    }
    assert_eq!(
        fcm_calls_to(&mesh, "bob").await,
        [("missed".to_owned(), 200)]
    );
}

/// A ringing phone is told the call ended: a data message with `call_event` cancel (FCM,
/// APNs, Huawei, Xiaomi, Honor); OPPO and vivo have none that reaches a closed app.
#[actix_rt::test]
async fn a_cancel_after_delivery_tells_the_ringing_phones() {
    let mesh = Mesh::start().await;
    for vendor in VENDORS {
        mesh.device(vendor, &token(vendor, vendor), vendor).await;
    }
    invite(&mesh, "call-d", &VENDORS, 60).await;
    for vendor in VENDORS {
        mesh.outcome("call-d", vendor, OutcomeStatus::Delivered)
            .await;
    }
    cancel(
        &mesh,
        "call-d",
        Some(&["fcm", "apns", "huawei", "xiaomi", "honor", "oppo"]),
        None,
    )
    .await;
    for vendor in ["fcm", "apns", "huawei", "xiaomi", "honor"] {
        let o = mesh.outcomes_of("call-d", vendor, 2).await;
        assert!(
            o.iter()
                .any(|o| o.call_event == Some(CallEvent::Cancel)
                    && o.status == OutcomeStatus::Delivered),
            "{vendor}: {o:?}"
        );
        let sent = mesh.sim_messages(vendor).await;
        let last = &sent.last().unwrap()["body"];
        assert_eq!(
            call_data(vendor, last),
            (json!("call-d"), json!("cancel")),
            "{vendor}: {last}"
        );
    }
    let fcm = mesh.sim_messages("fcm").await.last().unwrap()["body"]["message"].clone();
    assert!(fcm.get("notification").is_none(), "a data message: {fcm}");
    let apns = mesh.sim_messages("apns").await.last().unwrap()["body"].clone();
    assert_eq!(apns["headers"]["apns-push-type"], "background");
    // vivo was not in the cancel, OPPO cannot be told: each got the invitation only.
    for vendor in ["oppo", "vivo"] {
        assert_eq!(mesh.sim_messages(vendor).await.len(), 1, "{vendor}");
    }
}

/// The vendor is down for longer than the call rings: the invitation is never sent.
#[actix_rt::test]
async fn an_invite_that_outlives_its_call_is_never_sent() {
    let mesh = Mesh::start().await;
    mesh.device("fcm", &token("fcm", "bob"), "bob").await;
    mesh.sim_post("/sim/fcm/fault", json!({"status": 503, "for_ms": 6_000}))
        .await;
    invite(&mesh, "call-x", &["bob"], 2).await;
    let o = mesh.outcome("call-x", "bob", OutcomeStatus::Expired).await;
    assert_eq!(o.call_id.as_deref(), Some("call-x"));
    let sent = fcm_calls_to(&mesh, "bob").await;
    assert!(sent.iter().all(|(_, status)| *status == 503), "{sent:?}");
}

/// Bad calls are rejected with a reason naming the field; the good one around them rings.
#[actix_rt::test]
async fn bad_calls_are_rejected_naming_the_field_and_good_ones_still_ring() {
    let mesh = Mesh::start().await;
    mesh.device("fcm", &token("fcm", "bob"), "bob").await;
    let base =
        json!({"app_id": "demo", "call_id": "c", "inviter_id": "alice", "invitees": ["bob"]});
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    mesh.publish("im.call.invite", with(json!({"invitees": []})))
        .await;
    mesh.publish("im.call.invite", with(json!({"timeout_s": 0})))
        .await;
    invite(&mesh, "call-good", &["bob"], 30).await;
    mesh.publish("im.call.invite", with(json!({"timeout_s": 601})))
        .await;
    mesh.publish("im.call.invite", with(json!({"timeout_s": "ninety"})))
        .await;
    mesh.publish("im.call.cancel", json!({"app_id": "demo"}))
        .await;
    mesh.outcome("call-good", "bob", OutcomeStatus::Delivered)
        .await;
    let rejected = pushmesh_tests::wait_for(
        "five rejections",
        std::time::Duration::from_secs(10),
        || async {
            let r = mesh.take_rejected().await;
            (r.len() == 5).then_some(r)
        },
    )
    .await;
    let reasons: Vec<&str> = rejected.iter().map(|(r, _)| r.as_str()).collect();
    for expected in [
        "invitees: must name",
        "timeout_s: 0",
        "timeout_s: 601",
        "invalid type",
        "missing field `call_id`",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(expected)),
            "{expected}: {reasons:?}"
        );
    }
}

/// The app's rate limit holds the invitations in its vendor actor; a cancel answers those still
/// waiting `cancelled`, unsent, and withdraws those that went.
#[actix_rt::test]
async fn a_cancel_stops_invitations_held_by_a_rate_limit() {
    let mesh = Mesh::start().await;
    let users: Vec<String> = (0..40).map(|i| format!("u{i}")).collect();
    for u in &users {
        mesh.fcm_device_in("other", &token("fcm", u), u).await;
    }
    // `other` may send FCM 20 requests a second: 40 invitations take two.
    mesh.publish(
        "im.call.invite",
        json!({"app_id": "other", "call_id": "call-q", "inviter_id": "alice", "invitees": users,
               "push": {"title": "Alice", "content": "Incoming call"}}),
    )
    .await;
    pushmesh_tests::wait_for(
        "the first invitations",
        std::time::Duration::from_secs(10),
        || async { (mesh.sim_requests("fcm").await.len() >= 5).then_some(()) },
    )
    .await;
    mesh.publish(
        "im.call.cancel",
        json!({"app_id": "other", "call_id": "call-q"}),
    )
    .await;
    let (mut rang, mut stopped) = (0, 0);
    for u in &users {
        let o = mesh.outcomes_of("call-q", u, 1).await;
        let sent = fcm_calls_to(&mesh, u).await;
        match o[0].status {
            OutcomeStatus::Cancelled => {
                assert!(sent.is_empty(), "{u}: cancelled, yet sent {sent:?}");
                stopped += 1;
            }
            OutcomeStatus::Delivered => {
                let withdrawn = mesh.outcomes_of("call-q", u, 2).await;
                assert!(
                    withdrawn
                        .iter()
                        .any(|o| o.call_event == Some(CallEvent::Cancel)),
                    "{u}"
                );
                rang += 1;
            }
            other => panic!("{u}: {other:?}"),
        }
    }
    println!("rate-limited call cancelled: {rang} rang and were withdrawn, {stopped} never sent");
    assert!(stopped >= 20, "{rang} rang, {stopped} stopped");
}

/// A dispatcher killed with a cancelled call's invitations in its queue rings nothing after
/// its restart: the end of the call, waiting in its own queue, is taken first.
#[actix_rt::test]
async fn a_dispatcher_restarted_after_a_cancel_rings_nothing() {
    let mut mesh = Mesh::start_with(MeshOptions {
        processes: &["dispatch-fcm"],
        ..Default::default()
    })
    .await;
    mesh.start_process("dispatch-fcm").await;
    mesh.device("fcm", &token("fcm", "bob"), "bob").await;
    mesh.kill_process("dispatch-fcm");
    invite(&mesh, "call-k", &["bob"], 60).await;
    cancel(&mesh, "call-k", Some(&["bob"]), None).await;
    // The invitation waits in dispatch.fcm.calls, the end of the call in the replica's queue.
    wait_for(
        "the invite and the call's end queued",
        std::time::Duration::from_secs(10),
        || async {
            let invite = mesh.queue_len("dispatch.fcm.calls").await;
            let ended = mesh.queue_len("dispatch.fcm.calls-ended.0").await;
            (invite >= 1 && ended >= 1).then_some(())
        },
    )
    .await;
    mesh.start_process("dispatch-fcm").await;
    let o = mesh
        .outcome("call-k", "bob", OutcomeStatus::Cancelled)
        .await;
    assert_eq!(o.vendor, "fcm");
    assert!(fcm_calls_to(&mesh, "bob").await.is_empty(), "nothing rang");
}

/// An iPhone whose app registered a PushKit token rings through it: a VoIP push on the `.voip`
/// topic. Messages still go to its alert token, and a dead VoIP token leaves the device.
#[actix_rt::test]
async fn an_iphone_rings_through_its_voip_token_and_messages_keep_its_alert_token() {
    let mesh = Mesh::start().await;
    let (alert, voip) = (token("apns", "bob-alert"), token("apns", "bob-voip"));
    let (status, body) = mesh
        .api(
            reqwest::Method::POST,
            "/v1/apps/demo/devices",
            Some(json!({"vendor": "apns", "token": alert, "voip_token": voip})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let push_id = body["push_id"].as_str().unwrap().to_owned();
    let bind = format!("/v1/apps/demo/devices/{push_id}/user");
    let (status, _) = mesh
        .api(reqwest::Method::PUT, &bind, Some(json!({"user_id": "bob"})))
        .await;
    assert_eq!(status, 204);

    invite(&mesh, "call-v", &["bob"], 30).await;
    mesh.outcome("call-v", "bob", OutcomeStatus::Delivered)
        .await;
    mesh.peer_message("m-v", "alice", "bob").await;
    mesh.outcome("m-v", "bob", OutcomeStatus::Delivered).await;
    let sent = mesh.sim_messages("apns").await;
    let (call, message) = (&sent[0], &sent[1]);
    assert_eq!(call["tokens"][0], voip.as_str());
    let h = &call["body"]["headers"];
    assert_eq!(
        (h["apns-push-type"].as_str(), h["apns-topic"].as_str()),
        (Some("voip"), Some("com.example.im.voip"))
    );
    assert_eq!(call["body"]["payload"]["call_id"], "call-v");
    assert_eq!(
        message["tokens"][0],
        alert.as_str(),
        "a message goes to the alert token"
    );

    // The VoIP token dies: calls fall back to the alert token, the device stays.
    mesh.sim_post("/sim/apns/dead-tokens", json!({"tokens": [voip]}))
        .await;
    invite(&mesh, "call-w", &["bob"], 30).await;
    mesh.outcome("call-w", "bob", OutcomeStatus::InvalidToken)
        .await;
    pushmesh_tests::wait_for(
        "the VoIP token forgotten",
        std::time::Duration::from_secs(10),
        || async {
            let (_, body) = mesh
                .api(
                    reqwest::Method::GET,
                    "/v1/apps/demo/users/bob/devices",
                    None,
                )
                .await;
            (body["devices"][0]["voip"] == false).then_some(())
        },
    )
    .await;
    invite(&mesh, "call-y", &["bob"], 30).await;
    mesh.outcome("call-y", "bob", OutcomeStatus::Delivered)
        .await;
    let last = mesh.sim_messages("apns").await.last().unwrap().clone();
    assert_eq!(last["tokens"][0], alert.as_str());
    assert_eq!(last["body"]["headers"]["apns-push-type"], "alert");
}

/// A call placed while ten 10,000-member group messages keep the dispatcher busy rings before
/// the groups' remaining pushes: it never queues behind them. (The benchmark's `call` scenario
/// measures how long it takes.)
#[actix_rt::test]
async fn a_call_does_not_wait_behind_a_group_burst() {
    const MEMBERS: usize = 10_000;
    let mesh = Mesh::start().await;
    let members: Vec<String> = (0..MEMBERS).map(|i| format!("m{i}")).collect();
    let tokens: Vec<String> = members.iter().map(|u| token("fcm", u)).collect();
    for chunk in members.iter().zip(&tokens).collect::<Vec<_>>().chunks(50) {
        let registering = chunk.iter().map(|(u, t)| mesh.fcm_device(t, u));
        futures_util::future::join_all(registering).await;
    }
    mesh.fcm_device(&token("fcm", "callee"), "callee").await;
    // Half the members online; vendor-sim answers each FCM request 20 ms late.
    for u in members.iter().step_by(2) {
        mesh.publish(
            "presence.online",
            json!({"app_id": "demo", "user_id": u, "session_id": "s", "ttl_s": 600}),
        )
        .await;
    }
    mesh.sim_post("/sim/fcm/latency", json!({"ms": 20})).await;
    mesh.sim_post("/sim/fcm/compact", json!({"on": true})).await;
    for g in 0..10 {
        mesh.publish(
            "im.message",
            json!({
                "app_id": "demo", "message_id": format!("g{g}"), "conversation_type": "group",
                "conversation_id": "big", "sender_id": "x", "recipients": members,
                "push": {"title": "group", "content": "busy", "payload": "group"}
            }),
        )
        .await;
    }
    pushmesh_tests::wait_for(
        "the groups' pushes under way",
        std::time::Duration::from_secs(60),
        || async {
            (mesh.sim_get("/sim/fcm/count").await["requests"]
                .as_u64()
                .unwrap_or(0)
                >= 200)
                .then_some(())
        },
    )
    .await;
    invite(&mesh, "call-b", &["callee"], 60).await;
    mesh.outcome("call-b", "callee", OutcomeStatus::Delivered)
        .await;
    let group_total = 10 * MEMBERS / 2;
    let requests = mesh.sim_requests("fcm").await;
    let call_at = requests
        .iter()
        .position(|r| r["tokens"][0] == token("fcm", "callee"))
        .expect("the call at vendor-sim");
    let after = group_total - (call_at.min(group_total));
    println!("call during a burst: {call_at} group pushes before it, {after} after");
    assert!(
        after > group_total / 2,
        "the call waited behind {call_at} of {group_total} pushes"
    );
}
