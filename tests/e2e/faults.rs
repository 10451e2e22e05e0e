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

async fn group(mesh: &Mesh, app: &str, id: &str, users: &[String]) {
    mesh.publish(
        "im.message",
        serde_json::json!({
            "app_id": app, "message_id": id, "conversation_type": "group", "conversation_id": "g",
            "sender_id": "sender", "recipients": users, "push": {"title": "t", "content": "c"}
        }),
    )
    .await;
}

async fn delivered(mesh: &Mesh, id: &str, n: usize, within: Duration) {
    wait_for(
        &format!("{n} delivered outcomes for {id}"),
        within,
        || async {
            let got = mesh
                .outcomes()
                .iter()
                .filter(|o| o.message_id == id && o.status == OutcomeStatus::Delivered)
                .count();
            (got == n).then_some(())
        },
    )
    .await;
}

/// vendor-sim answers 503 for 30 s: the breaker opens after 3 failures, the dispatcher stops
/// sending (one probe per cool-down, at most 4 s apart in tests), and every push arrives after
/// recovery.
#[actix_rt::test]
async fn an_outage_opens_the_breaker_and_every_push_arrives_after_it() {
    let mesh = Mesh::start().await;
    let users: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
    for u in &users {
        mesh.fcm_device(&format!("tok-{u}"), u).await;
    }
    mesh.sim_post(
        "/sim/fcm/fault",
        serde_json::json!({"status": 503, "for_ms": 30_000}),
    )
    .await;
    group(&mesh, "demo", "outage", &users).await;
    delivered(&mesh, "outage", 20, Duration::from_secs(90)).await;
    let requests = mesh.sim_requests("fcm").await;
    let failed = requests.iter().filter(|r| r["status"] == 503).count();
    println!(
        "breaker: 20 pushes, 30 s outage: {failed} requests during the outage, {} in all",
        requests.len()
    );
    // Without a breaker each of the 20 pushes would be retried some six times in 30 s (up to
    // max_attempts, then failed): over 100 requests. The first wave is in flight before any
    // answer; after it, one probe per cool-down.
    assert!(failed <= 40, "{failed} requests hit the failing endpoint");
    assert_eq!(mesh.sim_messages("fcm").await.len(), 20, "each push once");
}

/// `requests_per_s = 20` for app `other`: no one-second window at vendor-sim holds more.
#[actix_rt::test]
async fn a_rate_limit_holds_at_the_vendor() {
    let mesh = Mesh::start().await;
    let users: Vec<String> = (0..50).map(|i| format!("u{i}")).collect();
    for u in &users {
        mesh.fcm_device_in("other", &format!("tok-{u}"), u).await;
    }
    group(&mesh, "other", "rated", &users).await;
    delivered(&mesh, "rated", 50, Duration::from_secs(30)).await;
    let at: Vec<u64> = mesh
        .sim_requests("fcm")
        .await
        .iter()
        .map(|r| r["at_ms"].as_u64().unwrap())
        .collect();
    let busiest = at
        .iter()
        .map(|t| at.iter().filter(|u| **u >= *t && **u < t + 1_000).count())
        .max()
        .unwrap();
    let span_ms = at.iter().max().unwrap() - at.iter().min().unwrap();
    println!("rate limit 20/s: 50 requests over {span_ms} ms, busiest 1 s window {busiest}");
    assert!(busiest <= 20, "{busiest} requests in one second");
}

/// `daily_quota = 3` with 4-second quota days: no day sees more than 3, the rest wait for the
/// next day and then go.
#[actix_rt::test]
async fn a_daily_quota_defers_the_rest_to_the_next_day() {
    let mesh = Mesh::start().await;
    let users: Vec<String> = (0..5).map(|i| format!("u{i}")).collect();
    for u in &users {
        mesh.device_in("other", "xiaomi", &format!("xm-{u}"), u)
            .await;
    }
    group(&mesh, "other", "quota", &users).await;
    delivered(&mesh, "quota", 5, Duration::from_secs(30)).await;
    let mut per_day = std::collections::BTreeMap::new();
    for r in mesh.sim_messages("xiaomi").await {
        let day = (r["at_ms"].as_u64().unwrap() + 8 * 3_600_000) / 4_000;
        *per_day.entry(day).or_insert(0) += r["accepted"].as_array().unwrap().len();
    }
    println!(
        "quota 3 a day: accepted per quota day {:?}",
        per_day.values().collect::<Vec<_>>()
    );
    assert!(per_day.values().all(|n| *n <= 3), "{per_day:?}");
    assert_eq!(per_day.values().sum::<usize>(), 5);
}

/// A push that runs out of time is parked with its reason; after the outage an operator replays
/// it (`pushmesh-cli replay fcm --ttl-s 60`) and it is delivered.
#[actix_rt::test]
async fn an_expired_push_is_parked_and_an_operator_can_replay_it() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.sim_post(
        "/sim/fcm/fault",
        serde_json::json!({"status": 503, "for_ms": 60_000}),
    )
    .await;
    mesh.publish("im.message", serde_json::json!({
        "app_id": "demo", "message_id": "short", "conversation_type": "peer", "conversation_id": "c",
        "sender_id": "alice", "recipients": ["bob"], "ttl_s": 2, "push": {"title": "t", "content": "c"}
    }))
    .await;
    mesh.outcome("short", "bob", OutcomeStatus::Expired).await;
    mesh.http
        .delete(format!("{}/sim/fcm/fault", mesh.sim))
        .send()
        .await
        .unwrap();

    let printed = mesh.cli(&["replay", "fcm", "--ttl-s", "60"]);
    assert!(printed.contains("replayed 1 pushes"), "{printed}");
    wait_for(
        "the replayed push to be delivered",
        Duration::from_secs(30),
        || async {
            mesh.outcomes()
                .into_iter()
                .find(|o| o.message_id == "short" && o.status == OutcomeStatus::Delivered)
        },
    )
    .await;
    assert_eq!(mesh.sim_messages("fcm").await.len(), 1);
    assert!(
        mesh.cli(&["replay", "fcm"]).contains("replayed 0 pushes"),
        "the parked queue is empty"
    );
}
