//! Huawei Push Kit: list sends of up to the configured maximum (3 in tests, 1000 by default),
//! payload in the data map, per-token results of a partial success.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::{wait_for, Mesh};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

async fn group(mesh: &Mesh, id: &str, members: &[&str], payload: &str) {
    mesh.publish("im.message", json!({
        "app_id": "demo", "message_id": id, "conversation_type": "group", "conversation_id": "g",
        "sender_id": "sender", "recipients": members,
        "push": {"title": "Team", "content": "hello", "payload": payload}
    }))
    .await;
}

#[actix_rt::test]
async fn a_group_is_sent_in_batches_with_the_payload_in_the_data_map() {
    let mesh = Mesh::start().await;
    let members = ["u1", "u2", "u3", "u4", "u5"];
    for u in members {
        mesh.device("huawei", &format!("hw-{u}"), u).await;
    }
    group(&mesh, "g-1", &members, "{\"conv\":\"g\"}").await;
    for u in members {
        mesh.outcome("g-1", u, OutcomeStatus::Delivered).await;
    }
    let requests = mesh.sim_requests("huawei").await;
    let mut sizes: Vec<usize> = requests
        .iter()
        .map(|r| r["tokens"].as_array().unwrap().len())
        .collect();
    sizes.sort();
    assert_eq!(sizes, [2, 3], "5 devices in requests of at most 3");

    let m = &requests[0]["body"]["message"];
    let data: Value = serde_json::from_str(m["data"].as_str().expect("data is a string")).unwrap();
    assert_eq!(data["payload"], "{\"conv\":\"g\"}");
    let a = &m["android"];
    assert_eq!(a["notification"]["title"], "Team");
    assert_eq!(a["notification"]["body"], "hello");
    assert_eq!(a["notification"]["click_action"]["type"], 3);
    assert_eq!(
        (a["urgency"].as_str(), a["category"].as_str()),
        (Some("HIGH"), Some("IM"))
    );
    assert!(a["ttl"].as_str().unwrap().ends_with('s'));
}

#[actix_rt::test]
async fn a_partial_success_deletes_only_the_illegal_tokens() {
    let mesh = Mesh::start().await;
    for u in ["a", "b", "c"] {
        mesh.device("huawei", &format!("hw-{u}"), u).await;
    }
    mesh.sim_post("/sim/huawei/dead-tokens", json!({"tokens": ["hw-b"]}))
        .await;
    group(&mesh, "p-1", &["a", "b", "c"], "x").await;
    mesh.outcome("p-1", "a", OutcomeStatus::Delivered).await;
    mesh.outcome("p-1", "b", OutcomeStatus::InvalidToken).await;
    mesh.outcome("p-1", "c", OutcomeStatus::Delivered).await;
    wait_for(
        "b's device to be deleted",
        Duration::from_secs(10),
        || async {
            let (_, body) = mesh
                .api(Method::GET, "/v1/apps/demo/users/b/devices", None)
                .await;
            (body["devices"] == json!([])).then_some(())
        },
    )
    .await;
    let (_, a) = mesh
        .api(Method::GET, "/v1/apps/demo/users/a/devices", None)
        .await;
    assert_eq!(
        a["devices"].as_array().unwrap().len(),
        1,
        "a keeps its device"
    );
}

#[actix_rt::test]
async fn all_tokens_invalid_is_an_invalid_token_for_each() {
    let mesh = Mesh::start().await;
    mesh.device("huawei", "hw-dead", "bob").await;
    mesh.sim_post("/sim/huawei/dead-tokens", json!({"tokens": ["hw-dead"]}))
        .await;
    mesh.peer_message("d-1", "alice", "bob").await;
    let o = mesh
        .outcome("d-1", "bob", OutcomeStatus::InvalidToken)
        .await;
    assert!(o.detail.unwrap().contains("80300007"));
}

#[actix_rt::test]
async fn an_expired_access_token_is_renewed() {
    let mesh = Mesh::start().await;
    mesh.device("huawei", "hw-bob", "bob").await;
    mesh.peer_message("first", "alice", "bob").await;
    mesh.outcome("first", "bob", OutcomeStatus::Delivered).await;
    mesh.sim_post("/sim/huawei/expire-access-tokens", json!({}))
        .await;
    mesh.peer_message("second", "alice", "bob").await;
    mesh.outcome("second", "bob", OutcomeStatus::Delivered)
        .await;
    let statuses: Vec<u64> = mesh
        .sim_requests("huawei")
        .await
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 401, 200]);
}

#[actix_rt::test]
async fn flow_control_is_retried_and_an_oversized_message_rejected() {
    let mesh = Mesh::start().await;
    mesh.device("huawei", "hw-bob", "bob").await;
    mesh.sim_post("/sim/huawei/fault", json!({"status": 503, "count": 1}))
        .await;
    mesh.peer_message("busy", "alice", "bob").await;
    mesh.outcome("busy", "bob", OutcomeStatus::Delivered).await;
    let r = mesh.sim_requests("huawei").await;
    assert_eq!(
        r.iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [503, 200]
    );
    assert!(r[1]["at_ms"].as_u64().unwrap() - r[0]["at_ms"].as_u64().unwrap() >= 1_000);

    // Quotes are escaped twice on the way into Huawei's string-typed `data`: within ingest's
    // limit, over Huawei's 4096 bytes. Refused before sending, with a reason.
    group(&mesh, "big", &["bob"], &"\"".repeat(1500)).await;
    let o = mesh.outcome("big", "bob", OutcomeStatus::Rejected).await;
    assert!(o.detail.unwrap().contains("4096"));
    assert_eq!(
        mesh.sim_requests("huawei").await.len(),
        2,
        "nothing was sent"
    );
}
