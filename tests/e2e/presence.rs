//! Online users get no push; offline (or lapsed) ones do.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::{wait_for, Mesh};
use serde_json::json;
use std::time::Duration;

#[actix_rt::test]
async fn online_user_gets_no_push_until_offline() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    let session = json!({"app_id": "demo", "user_id": "bob", "session_id": "s1", "ttl_s": 300});
    mesh.publish("presence.online", session).await;
    mesh.peer_message("while-online", "alice", "bob").await;
    let o = mesh
        .outcome("while-online", "bob", OutcomeStatus::Online)
        .await;
    assert_eq!(o.vendor, "none");
    assert!(mesh.fcm_messages_to("tok-bob").await.is_empty());

    mesh.publish(
        "presence.offline",
        json!({"app_id": "demo", "user_id": "bob", "session_id": "s1"}),
    )
    .await;
    mesh.peer_message("after-offline", "alice", "bob").await;
    mesh.outcome("after-offline", "bob", OutcomeStatus::Delivered)
        .await;
    assert_eq!(mesh.fcm_messages_to("tok-bob").await.len(), 1);
}

#[actix_rt::test]
async fn a_lapsed_lease_counts_as_offline() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.publish(
        "presence.online",
        json!({"app_id": "demo", "user_id": "bob", "session_id": "s1", "ttl_s": 1}),
    )
    .await;
    mesh.peer_message("in-lease", "alice", "bob").await;
    let online = mesh.outcome("in-lease", "bob", OutcomeStatus::Online).await;

    // The IM node stops refreshing (it crashed): once the lease has lapsed, pushes resume.
    wait_for("the 1 s lease to lapse", Duration::from_secs(5), || async {
        (pushmesh_contract::now_ms() > online.at_ms + 1_100).then_some(())
    })
    .await;
    mesh.peer_message("after-lease", "alice", "bob").await;
    mesh.outcome("after-lease", "bob", OutcomeStatus::Delivered)
        .await;
}

#[actix_rt::test]
async fn one_session_ending_keeps_the_user_online_on_another() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    for s in ["phone", "desktop"] {
        mesh.publish(
            "presence.online",
            json!({"app_id": "demo", "user_id": "bob", "session_id": s, "ttl_s": 300}),
        )
        .await;
    }
    mesh.publish(
        "presence.offline",
        json!({"app_id": "demo", "user_id": "bob", "session_id": "phone"}),
    )
    .await;
    mesh.peer_message("m", "alice", "bob").await;
    mesh.outcome("m", "bob", OutcomeStatus::Online).await;
}

#[actix_rt::test]
async fn an_enormous_lease_is_capped_not_a_crash() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    let session = json!({"app_id": "demo", "user_id": "bob", "session_id": "s", "ttl_s": u64::MAX});
    mesh.publish("presence.online", session).await;
    mesh.peer_message("m", "alice", "bob").await;
    mesh.outcome("m", "bob", OutcomeStatus::Online).await;
}
