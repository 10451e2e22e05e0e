//! A broker restart mid-stream: every service reconnects by itself and nothing is lost or
//! doubled. This restarts the machine's RabbitMQ (`rabbitmqctl stop_app` / `start_app`), so it
//! lives in its own test binary and runs alone.

use pushmesh_tests::{wait_for, Mesh};
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
    let mut mesh = Mesh::start().await;
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
}
