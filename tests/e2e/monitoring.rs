//! A real Prometheus scrapes the mesh with the shipped rules: it counts the pushes by vendor
//! and status, has the delivery latency histogram, and raises the breaker alert when the
//! vendor fails.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::prometheus::Prometheus;
use pushmesh_tests::{repo_root, wait_for, Mesh};
use serde_json::json;
use std::time::Duration;

/// The shipped rules with every `for:` cut to a second: the alert logic as shipped, in test
/// time.
pub(crate) fn rules_in_test_time() -> String {
    let rules = std::fs::read_to_string(repo_root().join("deploy/prometheus/rules/pushmesh.yml"))
        .expect("the shipped rules");
    let shortened = every_for_one_second(&rules);
    assert_ne!(shortened, rules, "the rules have `for:` clauses");
    shortened
}

fn every_for_one_second(rules: &str) -> String {
    rules
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 1s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[actix_rt::test]
async fn prometheus_counts_pushes_and_raises_the_breaker_alert() {
    let mesh = Mesh::start().await;
    let targets: Vec<String> = mesh
        .services()
        .into_iter()
        .map(|(_, url)| url.trim_start_matches("http://").to_owned())
        .collect();
    let prometheus = Prometheus::start(&targets, &rules_in_test_time()).await;
    mesh.fcm_device("tok-bob", "bob").await;
    for i in 0..5 {
        let id = format!("m{i}");
        mesh.peer_message(&id, "alice", "bob").await;
        mesh.outcome(&id, "bob", OutcomeStatus::Delivered).await;
    }
    let query = r#"sum by (vendor, status) (pushmesh_dispatch_outcomes_total{vendor="fcm"})"#;
    wait_for(
        "Prometheus to count 5 delivered FCM pushes",
        Duration::from_secs(30),
        || async {
            let result = prometheus.query(query).await;
            let delivered = result
                .iter()
                .find(|r| r["metric"]["status"] == "delivered")?;
            (delivered["value"][1] == "5").then_some(())
        },
    )
    .await;
    wait_for(
        "every service ready in Prometheus",
        Duration::from_secs(30),
        || async {
            let ready = prometheus.query("pushmesh_ready == 1").await;
            (ready.len() == targets.len()).then_some(())
        },
    )
    .await;
    let latency = prometheus
        .query(r#"pushmesh_dispatch_delivery_seconds_count{vendor="fcm"}"#)
        .await;
    assert_eq!(latency[0]["value"][1], "5", "{latency:?}");

    // FCM fails: three failures in a row open the breaker, and the alert follows.
    mesh.sim_post("/sim/fcm/fault", json!({"status": 503, "for_ms": 60_000}))
        .await;
    for i in 0..5 {
        mesh.peer_message(&format!("f{i}"), "alice", "bob").await;
    }
    let alert = wait_for("the breaker alert", Duration::from_secs(60), || async {
        let alerts = prometheus.alerts().await;
        alerts
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "PushmeshBreakerOpen")
    })
    .await;
    assert_eq!(alert["labels"]["vendor"], "fcm", "{alert}");
    assert_eq!(alert["labels"]["app"], "demo", "{alert}");
    assert!(["pending", "firing"].contains(&alert["state"].as_str().unwrap()));
}
