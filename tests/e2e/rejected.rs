//! Bad input lands in pushmesh.rejected with a reason naming the problem; nothing else is lost.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::{wait_for, Mesh};
use serde_json::json;
use std::time::Duration;

#[actix_rt::test]
async fn bad_input_is_rejected_with_a_reason_and_good_input_still_flows() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.peer_message("before", "alice", "bob").await;
    mesh.publish_raw("im.message", b"{\"app_id\": \"demo\", oops")
        .await;
    mesh.publish(
        "im.message",
        json!({
            "app_id": "demo", "conversation_type": "peer", "conversation_id": "c",
            "sender_id": "alice", "recipients": ["bob"], "push": {"title": "t", "content": "c"}
        }),
    )
    .await;
    mesh.publish("im.message", json!({
        "app_id": "nope", "message_id": "x", "conversation_type": "peer", "conversation_id": "c",
        "sender_id": "alice", "recipients": ["bob"], "push": {"title": "t", "content": "c"}
    }))
    .await;
    mesh.publish("im.message", json!({
        "app_id": "demo", "message_id": "big", "conversation_type": "peer", "conversation_id": "c",
        "sender_id": "alice", "recipients": ["bob"],
        "push": {"title": "t", "content": "c", "payload": "x".repeat(4000)}
    }))
    .await;
    mesh.publish("im.nonsense", json!({})).await;
    mesh.peer_message("after", "alice", "bob").await;
    mesh.outcome("before", "bob", OutcomeStatus::Delivered)
        .await;
    mesh.outcome("after", "bob", OutcomeStatus::Delivered).await;

    let rejected = wait_for(
        "five rejected messages",
        Duration::from_secs(10),
        || async {
            let r = mesh.take_rejected().await;
            (!r.is_empty()).then_some(r)
        },
    )
    .await;
    let reasons: Vec<&str> = rejected.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(reasons.len(), 5, "{reasons:#?}");
    assert!(reasons[0].contains("invalid JSON"), "{}", reasons[0]);
    assert!(reasons[1].contains("message_id"), "{}", reasons[1]);
    assert!(
        reasons[2].contains("app_id") && reasons[2].contains("nope"),
        "{}",
        reasons[2]
    );
    assert!(
        reasons[3].contains("push") && reasons[3].contains("bytes"),
        "{}",
        reasons[3]
    );
    assert!(reasons[4].contains("im.nonsense"), "{}", reasons[4]);
    assert!(rejected[0].1.contains("oops"), "the original body is kept");
    assert_eq!(mesh.fcm_messages_to("tok-bob").await.len(), 2);
}
