//! Bad input lands in pushmesh.rejected with a reason naming the problem; nothing else is lost.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::{wait_for, Mesh};
use serde_json::{json, Value};
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

/// Bytes an IM server should never send, as a fuzzer makes them: random bytes, and JSON with
/// the contract's field names holding anything.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    let names = prop::sample::select(vec![
        "app_id",
        "message_id",
        "call_id",
        "recipients",
        "invitees",
        "push",
        "title",
        "ttl_s",
        "sender_id",
        "conversation_type",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::from),
        Just(json!("demo")),
    ];
    let json = leaf.prop_recursive(3, 24, 6, move |inner| {
        prop::collection::btree_map(names.clone(), inner, 0..6)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
    });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        json.prop_map(|v| v.to_string().into_bytes()),
    ]
}

#[actix_rt::test]
async fn fuzzed_input_is_all_rejected_and_the_messages_between_it_all_delivered() {
    const ROUNDS: usize = 20;
    const PER_ROUND: usize = 10;
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    let mut runner = TestRunner::deterministic();
    let strategy = (
        prop::sample::select(vec!["im.message", "im.call.invite"]),
        garbage(),
    );
    for round in 0..ROUNDS {
        for _ in 0..PER_ROUND {
            let (key, body) = strategy.new_tree(&mut runner).unwrap().current();
            mesh.publish_raw(key, &body).await;
        }
        mesh.peer_message(&format!("ok-{round}"), "alice", "bob")
            .await;
    }
    for round in 0..ROUNDS {
        mesh.outcome(&format!("ok-{round}"), "bob", OutcomeStatus::Delivered)
            .await;
    }
    assert_eq!(mesh.fcm_messages_to("tok-bob").await.len(), ROUNDS);
    let rejected = std::cell::RefCell::new(Vec::new());
    wait_for(
        "every fuzzed message rejected",
        Duration::from_secs(10),
        || async {
            let taken = mesh.take_rejected().await;
            let mut rejected = rejected.borrow_mut();
            rejected.extend(taken);
            (rejected.len() >= ROUNDS * PER_ROUND).then_some(())
        },
    )
    .await;
    let rejected = rejected.into_inner();
    assert_eq!(rejected.len(), ROUNDS * PER_ROUND);
    for (reason, body) in &rejected {
        assert!(!reason.is_empty(), "rejected without a reason: {body}");
    }
}
