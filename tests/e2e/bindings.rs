//! Logout, rebinding and dead tokens: a push only ever reaches the phone of the user it is for.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::{wait_for, Mesh};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

#[actix_rt::test]
async fn logout_by_event_stops_pushes() {
    let mesh = Mesh::start().await;
    let push_id = mesh.fcm_device("tok-bob", "bob").await;
    mesh.publish(
        "binding.unbind",
        json!({"app_id": "demo", "user_id": "bob", "push_id": push_id}),
    )
    .await;
    mesh.peer_message("after-logout", "alice", "bob").await;
    mesh.outcome("after-logout", "bob", OutcomeStatus::NoDevice)
        .await;
    assert!(mesh.fcm_messages_to("tok-bob").await.is_empty());

    mesh.publish(
        "binding.bind",
        json!({"app_id": "demo", "user_id": "bob", "push_id": push_id}),
    )
    .await;
    mesh.peer_message("after-login", "alice", "bob").await;
    mesh.outcome("after-login", "bob", OutcomeStatus::Delivered)
        .await;
}

#[actix_rt::test]
async fn logout_by_http_stops_pushes() {
    let mesh = Mesh::start().await;
    let push_id = mesh.fcm_device("tok-bob", "bob").await;
    let (status, _) = mesh
        .api(
            Method::DELETE,
            &format!("/v1/apps/demo/devices/{push_id}/user"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    mesh.peer_message("after-logout", "alice", "bob").await;
    mesh.outcome("after-logout", "bob", OutcomeStatus::NoDevice)
        .await;
    assert!(mesh.fcm_messages_to("tok-bob").await.is_empty());
}

#[actix_rt::test]
async fn binding_a_device_to_another_user_takes_it_from_the_first() {
    let mesh = Mesh::start().await;
    let push_id = mesh.fcm_device("tok-shared", "alice").await;
    mesh.publish(
        "binding.bind",
        json!({"app_id": "demo", "user_id": "bob", "push_id": push_id}),
    )
    .await;
    // A late logout of alice must not unbind bob.
    mesh.publish(
        "binding.unbind",
        json!({"app_id": "demo", "user_id": "alice", "push_id": push_id}),
    )
    .await;
    mesh.peer_message("for-alice", "carol", "alice").await;
    mesh.peer_message("for-bob", "carol", "bob").await;
    mesh.outcome("for-alice", "alice", OutcomeStatus::NoDevice)
        .await;
    mesh.outcome("for-bob", "bob", OutcomeStatus::Delivered)
        .await;

    let sent = mesh.fcm_messages_to("tok-shared").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["body"]["message"]["notification"]["body"],
        "message for-bob"
    );
    let (_, alice) = mesh
        .api(Method::GET, "/v1/apps/demo/users/alice/devices", None)
        .await;
    assert_eq!(alice["devices"], json!([]));
}

#[actix_rt::test]
async fn a_dead_token_deletes_the_device() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-dead", "bob").await;
    mesh.sim_post("/sim/fcm/dead-tokens", json!({"tokens": ["tok-dead"]}))
        .await;
    mesh.peer_message("to-dead", "alice", "bob").await;
    let o = mesh
        .outcome("to-dead", "bob", OutcomeStatus::InvalidToken)
        .await;
    assert!(o.detail.unwrap().contains("UNREGISTERED"));

    wait_for(
        "the registry to delete the device",
        Duration::from_secs(10),
        || async {
            let (_, body) = mesh
                .api(Method::GET, "/v1/apps/demo/users/bob/devices", None)
                .await;
            (body["devices"] == json!([])).then_some(())
        },
    )
    .await;
    mesh.peer_message("after-delete", "alice", "bob").await;
    mesh.outcome("after-delete", "bob", OutcomeStatus::NoDevice)
        .await;
}

#[actix_rt::test]
async fn a_dead_token_answer_about_a_rotated_token_keeps_the_device() {
    let mesh = Mesh::start().await;
    let push_id = mesh.fcm_device("tok-old", "bob").await;
    mesh.sim_post("/sim/fcm/dead-tokens", json!({"tokens": ["tok-old"]}))
        .await;
    // The 410-style answer arrives with the old token's generation ...
    mesh.peer_message("to-old", "alice", "bob").await;
    mesh.outcome("to-old", "bob", OutcomeStatus::InvalidToken)
        .await;
    // ... but whether the rotation lands before or after the delete, the device must end up
    // either deleted (before) or alive with the new token (after): never alive with the old one.
    let (status, _) = mesh
        .api(
            Method::PUT,
            &format!("/v1/apps/demo/devices/{push_id}"),
            Some(json!({"token": "tok-new"})),
        )
        .await;
    if status == 200 {
        mesh.peer_message("to-new", "alice", "bob").await;
        let o = wait_for("an outcome for to-new", Duration::from_secs(30), || async {
            mesh.outcomes()
                .into_iter()
                .find(|o| o.message_id == "to-new")
        })
        .await;
        assert!(
            matches!(o.status, OutcomeStatus::Delivered | OutcomeStatus::NoDevice),
            "{o:?}"
        );
    } else {
        assert_eq!(status, 404, "the device was deleted first");
    }
    assert!(mesh.fcm_messages_to("tok-old").await.is_empty());
}
