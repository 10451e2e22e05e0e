//! APNs: HTTP/2 on a long-lived connection, ES256 provider tokens reused and renewed, Apple's
//! headers and payload, Apple's reasons.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::{wait_for, Mesh, MeshOptions};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

fn token(n: u32) -> String {
    format!("{n:064x}")
}

#[actix_rt::test]
async fn a_push_is_an_http2_request_with_apples_headers_and_payload() {
    let mesh = Mesh::start().await;
    mesh.device("apns", &token(1), "bob").await;
    mesh.peer_message("m1", "alice", "bob").await;
    mesh.outcome("m1", "bob", OutcomeStatus::Delivered).await;
    let sent = mesh.sim_messages("apns").await;
    let r = &sent[0]["body"];
    assert_eq!(r["http_version"], "HTTP/2.0");
    let h = &r["headers"];
    assert_eq!(
        (h["apns-topic"].as_str(), h["apns-push-type"].as_str()),
        (Some("com.example.im"), Some("alert"))
    );
    assert_eq!(h["apns-priority"], "10");
    let expiration: u64 = h["apns-expiration"].as_str().unwrap().parse().unwrap();
    assert!(
        expiration > pushmesh_contract::now_ms() / 1000 + 3_600,
        "stored while the push lives"
    );
    assert!(uuid_like(h["apns-id"].as_str().unwrap()));
    let p = &r["payload"];
    assert_eq!(
        p["aps"]["alert"],
        json!({"title": "alice", "body": "message m1"})
    );
    assert_eq!(
        p["payload"], "{\"message_id\":\"m1\"}",
        "the payload sits beside aps"
    );
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.split('-').map(str::len).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
}

#[actix_rt::test]
async fn many_pushes_share_one_connection_and_one_provider_token() {
    let mesh = Mesh::start().await;
    let users: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
    for (i, u) in users.iter().enumerate() {
        mesh.device("apns", &token(i as u32 + 1), u).await;
    }
    mesh.publish("im.message", json!({
        "app_id": "demo", "message_id": "g", "conversation_type": "group", "conversation_id": "c",
        "sender_id": "x", "recipients": users, "push": {"title": "t", "content": "c"}
    }))
    .await;
    for u in &users {
        mesh.outcome("g", u, OutcomeStatus::Delivered).await;
    }
    let stats = mesh.sim_get("/sim/apns/messages").await;
    assert_eq!(stats["messages"].as_array().unwrap().len(), 20);
    assert_eq!(stats["connections"], 1, "one long-lived HTTP/2 connection");
    assert_eq!(stats["tokens_issued"], 1, "one provider token, reused");
}

#[actix_rt::test]
async fn unregistered_deletes_the_device_and_an_expired_provider_token_is_renewed() {
    let mesh = Mesh::start().await;
    mesh.device("apns", &token(7), "bob").await;
    mesh.device("apns", &token(8), "carol").await;
    mesh.peer_message("first", "alice", "carol").await;
    mesh.outcome("first", "carol", OutcomeStatus::Delivered)
        .await;
    mesh.sim_post("/sim/apns/expire-access-tokens", json!({}))
        .await;
    mesh.peer_message("second", "alice", "carol").await;
    mesh.outcome("second", "carol", OutcomeStatus::Delivered)
        .await;
    let reasons: Vec<u64> = mesh
        .sim_requests("apns")
        .await
        .iter()
        .map(|r: &Value| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [200, 403, 200],
        "ExpiredProviderToken, then a new token"
    );

    mesh.sim_post("/sim/apns/dead-tokens", json!({"tokens": [token(7)]}))
        .await;
    mesh.peer_message("gone", "alice", "bob").await;
    let o = mesh
        .outcome("gone", "bob", OutcomeStatus::InvalidToken)
        .await;
    assert!(o.detail.unwrap().contains("Unregistered"));
    wait_for(
        "bob's device to be deleted",
        Duration::from_secs(10),
        || async {
            let (_, body) = mesh
                .api(Method::GET, "/v1/apps/demo/users/bob/devices", None)
                .await;
            (body["devices"] == json!([])).then_some(())
        },
    )
    .await;
}

/// Apple refuses a provider token renewed within 20 minutes of the last, so a restarted
/// dispatcher uses the one it had.
#[actix_rt::test]
async fn a_restarted_dispatcher_keeps_its_provider_token() {
    let mut mesh = Mesh::start_with(MeshOptions {
        processes: &["dispatch-apns"],
        ..Default::default()
    })
    .await;
    mesh.start_process("dispatch-apns").await;
    mesh.device("apns", &token(11), "bob").await;
    mesh.peer_message("before", "alice", "bob").await;
    mesh.outcome("before", "bob", OutcomeStatus::Delivered)
        .await;
    assert!(mesh.terminate_process("dispatch-apns"), "exit status 0");
    mesh.start_process("dispatch-apns").await;
    mesh.peer_message("after", "alice", "bob").await;
    mesh.outcome("after", "bob", OutcomeStatus::Delivered).await;
    let statuses: Vec<u64> = mesh
        .sim_requests("apns")
        .await
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200], "no TooManyProviderTokenUpdates");
    assert_eq!(mesh.sim_get("/sim/apns/messages").await["tokens_issued"], 1);
}

#[actix_rt::test]
async fn too_many_requests_is_retried_later() {
    let mesh = Mesh::start().await;
    mesh.device("apns", &token(9), "bob").await;
    mesh.sim_post("/sim/apns/fault", json!({"status": 429, "count": 1}))
        .await;
    mesh.peer_message("m", "alice", "bob").await;
    mesh.outcome("m", "bob", OutcomeStatus::Delivered).await;
    let r = mesh.sim_requests("apns").await;
    assert_eq!(
        r.iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [429, 200]
    );
    assert!(r[1]["at_ms"].as_u64().unwrap() - r[0]["at_ms"].as_u64().unwrap() >= 1_000);
}
