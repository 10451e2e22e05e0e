//! Vendor trouble: retries wait in the broker for as long as the vendor asked, and a stale
//! access token is renewed.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::Mesh;
use serde_json::{json, Value};

/// (at_ms, status) of every FCM send request vendor-sim received.
async fn requests(mesh: &Mesh) -> Vec<(u64, u64)> {
    mesh.sim_get("/sim/fcm/requests").await["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r: &Value| (r["at_ms"].as_u64().unwrap(), r["status"].as_u64().unwrap()))
        .collect()
}

#[actix_rt::test]
async fn a_503_is_retried_through_the_broker_and_arrives_once() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.sim_post("/sim/fcm/fault", json!({"status": 503, "count": 1}))
        .await;
    mesh.peer_message("m", "alice", "bob").await;
    mesh.outcome("m", "bob", OutcomeStatus::Delivered).await;

    let r = requests(&mesh).await;
    assert_eq!(r.iter().map(|(_, s)| *s).collect::<Vec<_>>(), [503, 200]);
    let waited = r[1].0 - r[0].0;
    assert!(
        waited >= 1_000,
        "the retry waited in the shortest delay queue (1 s), not {waited} ms"
    );
    assert_eq!(mesh.fcm_messages_to("tok-bob").await.len(), 1);
}

#[actix_rt::test]
async fn a_429_is_not_retried_before_its_retry_after() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.sim_post(
        "/sim/fcm/fault",
        json!({"status": 429, "count": 1, "retry_after_s": 3}),
    )
    .await;
    mesh.peer_message("m", "alice", "bob").await;
    mesh.outcome("m", "bob", OutcomeStatus::Delivered).await;

    let r = requests(&mesh).await;
    assert_eq!(r.iter().map(|(_, s)| *s).collect::<Vec<_>>(), [429, 200]);
    let waited = r[1].0 - r[0].0;
    assert!(
        waited >= 3_000,
        "Retry-After: 3 was honoured, the retry came after {waited} ms"
    );
}

#[actix_rt::test]
async fn an_expired_access_token_is_renewed_and_the_push_still_goes() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.peer_message("first", "alice", "bob").await;
    mesh.outcome("first", "bob", OutcomeStatus::Delivered).await;
    mesh.sim_post("/sim/fcm/expire-access-tokens", json!({}))
        .await;
    mesh.peer_message("second", "alice", "bob").await;
    mesh.outcome("second", "bob", OutcomeStatus::Delivered)
        .await;

    let statuses: Vec<u64> = requests(&mesh).await.iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, [200, 401, 200], "one 401, then a fresh token");
    let issued = mesh.sim_get("/sim/fcm/messages").await["tokens_issued"]
        .as_u64()
        .unwrap();
    assert_eq!(issued, 2);
}
