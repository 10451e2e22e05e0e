//! The main path: a message reaches the phone's vendor, once, with everything intact.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::{wait_for, Mesh, MeshOptions};
use serde_json::json;
use std::time::{Duration, Instant};

#[actix_rt::test]
async fn peer_message_to_an_offline_user_reaches_fcm_intact() {
    let mesh = Mesh::start().await;
    let push_id = mesh.fcm_device("tok-bob", "bob").await;
    mesh.publish(
        "im.message",
        json!({
            "app_id": "demo", "message_id": "m-1", "conversation_type": "peer",
            "conversation_id": "alice:bob", "sender_id": "alice", "recipients": ["bob"],
            "push": {"title": "Alice", "content": "héllo 👋", "payload": "{\"conv\":\"alice:bob\"}"}
        }),
    )
    .await;

    let outcome = mesh.outcome("m-1", "bob", OutcomeStatus::Delivered).await;
    assert_eq!(outcome.push_id.as_deref(), Some(push_id.as_str()));
    assert_eq!(outcome.vendor, "fcm");
    assert!(outcome
        .vendor_message_id
        .unwrap()
        .starts_with("projects/pushmesh-demo/messages/"));

    let sent = mesh.fcm_messages_to("tok-bob").await;
    assert_eq!(sent.len(), 1);
    let m = &sent[0]["body"]["message"];
    assert_eq!(m["notification"]["title"], "Alice");
    assert_eq!(m["notification"]["body"], "héllo 👋");
    assert_eq!(m["data"]["payload"], "{\"conv\":\"alice:bob\"}");
    assert_eq!(m["android"]["priority"], "HIGH");
    // vendor-sim only accepts access tokens it issued through the JWT-bearer OAuth flow.
    let issued = mesh.sim_get("/sim/fcm/messages").await["tokens_issued"]
        .as_u64()
        .unwrap();
    assert!(
        issued >= 1,
        "the dispatcher obtained an access token through OAuth"
    );
}

/// Each hop batches by lingering for more, but only while earlier batches are settling: a push
/// through a quiet mesh is not held for the linger at every hop (here four hops of 6 s; the
/// push must arrive in less than one linger).
#[actix_rt::test]
async fn a_quiet_mesh_does_not_hold_a_push_for_the_batch_linger() {
    let mesh = Mesh::start_with(MeshOptions {
        extra_toml: "[batch]\nmax_items = 100\nlinger_ms = 6000\n".into(),
        ..Default::default()
    })
    .await;
    mesh.fcm_device("tok-bob", "bob").await;
    let published = Instant::now();
    mesh.peer_message("m-quiet", "alice", "bob").await;
    mesh.outcome("m-quiet", "bob", OutcomeStatus::Delivered)
        .await;
    assert!(
        published.elapsed() < Duration::from_secs(5),
        "the push took {:?}: a hop waited for its linger with nothing else in flight",
        published.elapsed()
    );
}

/// While messages keep coming, ingest takes one batch at most every `ingest.batch_interval_ms`:
/// messages arriving within the interval after a batch wait for it and travel on together
/// (every stage after ingest takes one message per ingest batch). A quiet ingest holds
/// nothing: the first message goes at once.
#[actix_rt::test]
async fn ingest_gathers_what_arrives_within_its_batch_interval() {
    const INTERVAL: Duration = Duration::from_secs(8);
    let mesh = Mesh::start_with(MeshOptions {
        extra_toml: format!("[ingest]\nbatch_interval_ms = {}\n", INTERVAL.as_millis()),
        ..Default::default()
    })
    .await;
    for user in ["bob", "carol", "dave"] {
        mesh.fcm_device(&format!("tok-{user}"), user).await;
    }
    let batches = || async {
        let series = "pushmesh_stage_batches_total{queue=\"pushmesh.ingest\"}";
        mesh.metric(&mesh.ingest, series).await
    };
    let first_published = Instant::now();
    mesh.peer_message("m-first", "alice", "bob").await;
    mesh.outcome("m-first", "bob", OutcomeStatus::Delivered)
        .await;
    assert!(
        first_published.elapsed() < INTERVAL,
        "the first message took {:?}: a quiet ingest held it",
        first_published.elapsed()
    );
    assert_eq!(batches().await, 1.0);

    mesh.peer_message("m-second", "alice", "carol").await;
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    mesh.peer_message("m-third", "alice", "dave").await;
    for (message, user) in [("m-second", "carol"), ("m-third", "dave")] {
        mesh.outcome(message, user, OutcomeStatus::Delivered).await;
    }
    assert_eq!(
        batches().await,
        2.0,
        "the two later messages went in one batch"
    );
    let deliveries = "pushmesh_stage_deliveries_total{queue=\"pushmesh.ingest\"}";
    assert_eq!(mesh.metric(&mesh.ingest, deliveries).await, 3.0);
    // Their batch was taken no sooner than the interval after the first one, which was taken
    // after `first_published`; and not held longer than that.
    let waited = first_published.elapsed();
    assert!(
        waited >= INTERVAL && waited < INTERVAL + Duration::from_secs(8),
        "the later messages arrived {waited:?} after the first was published"
    );
}

#[actix_rt::test]
async fn group_message_reaches_every_offline_member_once_and_never_the_sender() {
    let mesh = Mesh::start().await;
    for user in ["alice", "bob", "carol", "dave"] {
        mesh.fcm_device(&format!("tok-{user}"), user).await;
    }
    mesh.fcm_device("tok-carol-tablet", "carol").await;
    mesh.publish(
        "im.message",
        json!({
            "app_id": "demo", "message_id": "g-1", "conversation_type": "group",
            "conversation_id": "team", "sender_id": "alice",
            "recipients": ["alice", "bob", "carol", "dave", "bob"],
            "push": {"title": "team", "content": "standup"}
        }),
    )
    .await;
    for user in ["bob", "carol", "dave"] {
        mesh.outcome("g-1", user, OutcomeStatus::Delivered).await;
    }

    let mut tokens: Vec<String> = mesh
        .sim_messages("fcm")
        .await
        .iter()
        .map(|m| m["tokens"][0].as_str().unwrap().to_owned())
        .collect();
    tokens.sort();
    assert_eq!(
        tokens,
        ["tok-bob", "tok-carol", "tok-carol-tablet", "tok-dave"]
    );
    assert!(
        mesh.outcomes().iter().all(|o| o.user_id != "alice"),
        "no outcome for the sender"
    );
}

#[actix_rt::test]
async fn the_same_message_id_twice_gives_one_push() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.peer_message("dup-1", "alice", "bob").await;
    mesh.peer_message("dup-1", "alice", "bob").await;
    mesh.outcome("dup-1", "bob", OutcomeStatus::Delivered).await;
    // Published after the duplicate, so seen by every stage after it: once it is delivered, the
    // duplicate has been dealt with too.
    mesh.peer_message("after-dup", "alice", "bob").await;
    mesh.outcome("after-dup", "bob", OutcomeStatus::Delivered)
        .await;
    mesh.peer_message("dup-1", "alice", "bob").await; // again, in a later batch
    mesh.peer_message("after-dup-2", "alice", "bob").await;
    mesh.outcome("after-dup-2", "bob", OutcomeStatus::Delivered)
        .await;

    let pushes_of_dup = mesh
        .fcm_messages_to("tok-bob")
        .await
        .iter()
        .filter(|m| m["body"]["message"]["notification"]["body"] == "message dup-1")
        .count();
    assert_eq!(pushes_of_dup, 1);
    assert_eq!(
        mesh.outcomes()
            .iter()
            .filter(|o| o.message_id == "dup-1")
            .count(),
        1
    );
}

#[actix_rt::test]
async fn a_message_without_push_config_pushes_nothing() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.publish(
        "im.message",
        json!({
            "app_id": "demo", "message_id": "silent", "conversation_type": "peer",
            "conversation_id": "c", "sender_id": "alice", "recipients": ["bob"]
        }),
    )
    .await;
    mesh.peer_message("loud", "alice", "bob").await;
    mesh.outcome("loud", "bob", OutcomeStatus::Delivered).await;
    assert_eq!(mesh.fcm_messages_to("tok-bob").await.len(), 1);
    assert!(mesh.outcomes().iter().all(|o| o.message_id != "silent"));
}

#[actix_rt::test]
async fn apps_are_separate_down_to_their_fcm_project() {
    let mesh = Mesh::start().await;
    let in_demo = mesh.fcm_device("tok-same", "bob").await;
    let in_other = mesh.fcm_device_in("other", "tok-same", "bob").await;
    assert_ne!(
        in_demo, in_other,
        "the same token in two apps is two devices"
    );
    mesh.publish(
        "im.message",
        json!({
            "app_id": "other", "message_id": "o-1", "conversation_type": "peer",
            "conversation_id": "c", "sender_id": "alice", "recipients": ["bob"],
            "push": {"title": "other app", "content": "hi"}
        }),
    )
    .await;
    let o = mesh.outcome("o-1", "bob", OutcomeStatus::Delivered).await;
    assert_eq!(o.app_id, "other");
    assert_eq!(o.push_id.as_deref(), Some(in_other.as_str()));
    assert!(o
        .vendor_message_id
        .unwrap()
        .starts_with("projects/pushmesh-other/"));
    assert_eq!(mesh.fcm_messages_to("tok-same").await.len(), 1);
}

/// A slow vendor does not hold back the next batches: pushes that reach the dispatcher one
/// batch at a time each get their request out while the earlier ones are still waiting for
/// their answers (a fixed four batches in flight held the fifth back for the first answer).
#[actix_rt::test]
async fn a_slow_vendor_does_not_hold_back_the_next_batches() {
    let mesh = Mesh::start().await;
    // Six: more than the four batches it used to keep, few enough to get through the mesh
    // one at a time well within the vendor's 8 s on a loaded machine.
    let users: Vec<String> = (0..6).map(|i| format!("slow-{i}")).collect();
    for user in &users {
        mesh.fcm_device(&format!("tok-{user}"), user).await;
    }
    mesh.sim_post("/sim/fcm/latency", json!({"ms": 8_000}))
        .await;
    for (i, user) in users.iter().enumerate() {
        mesh.peer_message(&format!("m-{user}"), "alice", user).await;
        // Held at vendor-sim before the next message is published: one batch each.
        wait_for(
            &format!("{} requests held at vendor-sim at once", i + 1),
            Duration::from_secs(6),
            || async { (mesh.sim_get("/sim/fcm/messages").await["held"] == i + 1).then_some(()) },
        )
        .await;
    }
    for user in &users {
        mesh.outcome(&format!("m-{user}"), user, OutcomeStatus::Delivered)
            .await;
    }
}

/// One device's slow vendor answer holds up only its own push: a later push to another device
/// goes out and is settled while the slow answer is still outstanding.
#[actix_rt::test]
async fn a_slow_vendor_answer_does_not_hold_up_later_pushes() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-slow", "slow").await;
    mesh.fcm_device("tok-fast", "fast").await;
    mesh.sim_post(
        "/sim/fcm/latency",
        json!({"ms": 5_000, "tokens": ["tok-slow"]}),
    )
    .await;
    mesh.peer_message("m-slow", "alice", "slow").await;
    // The slow request is at vendor-sim, waiting out its 5 s, before the next message is sent.
    wait_for(
        "the slow request held at vendor-sim",
        Duration::from_secs(30),
        || async { (mesh.sim_get("/sim/fcm/messages").await["held"] == 1).then_some(()) },
    )
    .await;
    mesh.peer_message("m-fast", "alice", "fast").await;
    mesh.outcome("m-fast", "fast", OutcomeStatus::Delivered)
        .await;
    assert!(
        !mesh.outcomes().iter().any(|o| o.message_id == "m-slow"),
        "the fast push waited for the slow answer"
    );
    mesh.outcome("m-slow", "slow", OutcomeStatus::Delivered)
        .await;
    assert_eq!(mesh.fcm_messages_to("tok-slow").await.len(), 1);
}
