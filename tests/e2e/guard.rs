//! When many tokens die at once, suspect the configuration: a wrong APNs topic makes APNs
//! call every device token "not for topic". The dead-token guard deletes at most its
//! threshold's worth of devices, holds the rest as failed (parked), fires its alert; after
//! the topic is corrected, a replay delivers.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::prometheus::Prometheus;
use pushmesh_tests::{wait_for, Mesh, MeshOptions};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const USERS: usize = 10;
const WRONG_TOPIC: &[(&str, &str)] = &[
    ("PUSHMESH__APPS__DEMO__APNS__TOPIC", "com.example.wrongapp"),
    ("PUSHMESH__DISPATCH__DEAD_TOKEN_MIN", "3"),
];
const FIXED: &[(&str, &str)] = &[("PUSHMESH__DISPATCH__DEAD_TOKEN_MIN", "3")];

#[actix_rt::test]
async fn a_wrong_topic_deletes_at_most_the_guards_threshold_and_a_replay_delivers() {
    let mut mesh = Mesh::start_with(MeshOptions {
        processes: &["dispatch-apns"],
        process_env: WRONG_TOPIC,
        ..Default::default()
    })
    .await;
    mesh.start_process("dispatch-apns").await;
    let users: Vec<String> = (0..USERS).map(|i| format!("u{i}")).collect();
    for (i, user) in users.iter().enumerate() {
        mesh.device("apns", &format!("{i:02}{}", "ab".repeat(31)), user)
            .await;
    }
    mesh.publish(
        "im.message",
        json!({
            "app_id": "demo", "message_id": "g1", "conversation_type": "group",
            "conversation_id": "g", "sender_id": "alice", "recipients": users,
            "push": {"title": "t", "content": "c"}
        }),
    )
    .await;
    let outcomes = wait_for(
        "every member's outcome",
        Duration::from_secs(30),
        || async {
            let all: Vec<_> = mesh
                .outcomes()
                .into_iter()
                .filter(|o| o.message_id == "g1")
                .collect();
            (all.len() == USERS).then_some(all)
        },
    )
    .await;
    let deleted = outcomes
        .iter()
        .filter(|o| o.status == OutcomeStatus::InvalidToken)
        .count();
    let held: Vec<_> = outcomes
        .iter()
        .filter(|o| o.status == OutcomeStatus::Failed)
        .collect();
    assert!(deleted <= 3, "{deleted} devices deleted: {outcomes:?}");
    assert_eq!(deleted + held.len(), USERS, "{outcomes:?}");
    let detail = held[0].detail.as_deref().unwrap_or_default();
    assert!(detail.contains("[apps.demo.apns] topic"), "{detail}");
    let apns = mesh.dispatcher(pushmesh_contract::Vendor::Apns);
    let tripped = mesh
        .metric(
            &apns,
            r#"pushmesh_dispatch_dead_token_guard{app="demo",vendor="apns"}"#,
        )
        .await;
    assert_eq!(tripped, 1.0);
    let target = apns.trim_start_matches("http://").to_owned();
    let rules = crate::monitoring::rules_in_test_time();
    let prometheus = Prometheus::start(&[target], &rules).await;
    let alert = wait_for("the dead-token alert", Duration::from_secs(30), || async {
        let alerts = prometheus.alerts().await;
        alerts
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "PushmeshDeadTokenGuard")
    })
    .await;
    assert_eq!(alert["state"], "firing", "{alert}");
    assert_eq!(alert["labels"]["app"], "demo", "{alert}");
    let (_, body) = mesh
        .api(Method::GET, "/v1/apps/demo/users/u9/devices", None)
        .await;
    let kept = held.iter().filter(|o| o.user_id == "u9").count();
    assert_eq!(body["devices"].as_array().unwrap().len(), kept, "{body}");

    // The operator corrects the topic and replays.
    assert!(mesh.terminate_process("dispatch-apns"));
    mesh.set_process_env(FIXED);
    mesh.start_process("dispatch-apns").await;
    let (status, body) = mesh
        .api(Method::POST, "/v1/apps/demo/vendors/apns/replay", None)
        .await;
    assert_eq!(
        (status, body["replayed"].as_u64()),
        (200, Some(held.len() as u64)),
        "{body}"
    );
    wait_for(
        "the held pushes delivered",
        Duration::from_secs(30),
        || async {
            let delivered = mesh
                .outcomes()
                .into_iter()
                .filter(|o| o.message_id == "g1" && o.status == OutcomeStatus::Delivered);
            (delivered.count() == held.len()).then_some(())
        },
    )
    .await;
}
