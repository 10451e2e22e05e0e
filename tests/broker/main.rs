//! A broker restart mid-stream: every service reconnects by itself and nothing is lost or
//! doubled. This restarts the machine's RabbitMQ (`rabbitmqctl stop_app` / `start_app`), so it
//! lives in its own test binary and runs alone.

use pushmesh_tests::{wait_for, Mesh, MeshOptions};
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

fn rabbitmqctl(arg: &str) {
    let status = Command::new("rabbitmqctl")
        .args(["-q", arg])
        .status()
        .expect("rabbitmqctl runs");
    assert!(status.success(), "rabbitmqctl {arg}");
}

async fn publish(mesh: &Mesh, users: usize, rounds: std::ops::Range<usize>) {
    for i in rounds {
        for u in 0..users {
            mesh.peer_message(&format!("m-{u}-{i}"), "sender", &format!("user-{u}"))
                .await;
        }
    }
}

#[actix_rt::test]
async fn a_broker_restart_mid_stream_loses_and_doubles_nothing() {
    // Ingest as a process of its own, as it runs in production: its connection's close after
    // the broker went away is what kept it from reconnecting for seconds.
    let mut mesh = Mesh::start_with(MeshOptions {
        processes: &["ingest"],
        ..Default::default()
    })
    .await;
    mesh.start_process("ingest").await;
    let (users, rounds) = (20, 100);
    let total = users * rounds;
    for u in 0..users {
        mesh.fcm_device(&format!("tok-{u}"), &format!("user-{u}"))
            .await;
    }
    mesh.sim_post("/sim/fcm/latency", serde_json::json!({"ms": 20}))
        .await;
    publish(&mesh, users, 0..rounds / 2).await;
    wait_for(
        "a tenth of the pushes at vendor-sim",
        Duration::from_secs(60),
        || async { (mesh.sim_messages("fcm").await.len() >= total / 10).then_some(()) },
    )
    .await;
    rabbitmqctl("stop_app");
    let at_stop = mesh.sim_messages("fcm").await.len();
    tokio::time::sleep(Duration::from_secs(2)).await; // the broker stays down a moment
    rabbitmqctl("start_app");
    let back = ready_again(&mesh).await;
    mesh.reconnect().await;
    publish(&mesh, users, rounds / 2..rounds).await;

    let received = || async {
        let mut per_push: HashMap<String, usize> = HashMap::new();
        for m in mesh.sim_messages("fcm").await {
            let key = format!(
                "{}:{}",
                m["tokens"][0], m["body"]["message"]["notification"]["body"]
            );
            *per_push.entry(key).or_default() += 1;
        }
        per_push
    };
    wait_for(
        "every push at vendor-sim after the restart",
        Duration::from_secs(180),
        || async { (received().await.len() == total).then_some(()) },
    )
    .await;
    let per_push = received().await;
    let accepted: usize = per_push.values().sum();
    let duplicates = accepted - per_push.len();
    println!(
        "broker restart mid-stream: pushes={total} accepted_at_stop={at_stop} accepted_total={accepted} lost=0 duplicates={duplicates}"
    );
    assert_eq!(duplicates, 0);
    // Each service retries at most every 2 s, so it is back within that of the broker (and a
    // connect); one that waited out the close of its dead connection took 10 s.
    let slowest = back.last().unwrap().1;
    assert!(
        slowest < Duration::from_secs(4),
        "ready again after start_app: {back:?}"
    );
}

/// How long after now each service's `/readyz` answers 200 again, soonest first (all are
/// polled together, every 20 ms).
async fn ready_again(mesh: &Mesh) -> Vec<(String, Duration)> {
    let started = std::time::Instant::now();
    let mut waiting = mesh.services();
    let mut back = Vec::new();
    while !waiting.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not ready: {waiting:?}"
        );
        let mut still = Vec::new();
        for (name, url) in waiting {
            let ready = mesh.http.get(format!("{url}/readyz")).send().await;
            match ready.is_ok_and(|r| r.status() == 200) {
                true => back.push((name, started.elapsed())),
                false => still.push((name, url)),
            }
        }
        waiting = still;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("ready again after start_app: {back:?}");
    back
}
