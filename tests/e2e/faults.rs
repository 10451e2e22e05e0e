//! Faults inside the mesh: poison messages, and (in crash.rs) killed processes.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::{wait_for, Mesh};
use std::time::Duration;

/// An internal message no stage can decode goes to `pushmesh.dead-letter` with the reason, and
/// every stage keeps going.
#[actix_rt::test]
async fn undecodable_internal_messages_are_dead_lettered_and_the_stages_go_on() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    for queue in ["pushmesh.presence.0", "pushmesh.registry.0", "dispatch.fcm"] {
        mesh.publish_to_queue(queue, b"\x07not a stage message")
            .await;
    }
    mesh.peer_message("after-poison", "alice", "bob").await;
    mesh.outcome("after-poison", "bob", OutcomeStatus::Delivered)
        .await;
    let dead = wait_for("three dead letters", Duration::from_secs(10), || async {
        let d = mesh.take_queue("pushmesh.dead-letter").await;
        (d.len() == 3).then_some(d)
    })
    .await;
    let mut reasons: Vec<&str> = dead.iter().map(|(r, _)| r.as_str()).collect();
    reasons.sort();
    assert!(
        reasons[0].starts_with("dispatch.fcm: unknown codec version 7"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("presence: unknown codec version 7"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].starts_with("registry: unknown codec version 7"),
        "{reasons:?}"
    );
}
