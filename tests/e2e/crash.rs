//! A dispatcher killed mid-stream loses nothing.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::{wait_for, Mesh, MeshOptions};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const USERS: usize = 20;
const PER_USER: usize = 100;

#[actix_rt::test]
async fn sigkill_of_the_fcm_dispatcher_loses_no_push() {
    let mut mesh = Mesh::start_with(MeshOptions {
        fcm_as_process: true,
        ..Default::default()
    })
    .await;
    mesh.start_fcm_process().await;
    for u in 0..USERS {
        mesh.fcm_device(&format!("tok-{u}"), &format!("user-{u}"))
            .await;
    }
    // A slow vendor keeps pushes in flight when the kill lands.
    mesh.sim_post("/sim/fcm/latency", json!({"ms": 50})).await;
    for i in 0..PER_USER {
        for u in 0..USERS {
            mesh.peer_message(&format!("m-{u}-{i}"), "sender", &format!("user-{u}"))
                .await;
        }
    }
    let total = USERS * PER_USER;
    wait_for(
        "some pushes to reach vendor-sim",
        Duration::from_secs(60),
        || async { (mesh.sim_messages("fcm").await.len() >= total / 10).then_some(()) },
    )
    .await;
    mesh.kill_fcm_process();
    let at_kill = mesh.sim_messages("fcm").await.len();
    mesh.start_fcm_process().await;

    let distinct = |msgs: &[serde_json::Value]| -> HashSet<String> {
        msgs.iter()
            .map(|m| {
                m["body"]["message"]["notification"]["body"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    wait_for(
        "every push to arrive after the restart",
        Duration::from_secs(120),
        || async {
            let msgs = mesh.sim_messages("fcm").await;
            (distinct(&msgs).len() == total).then_some(())
        },
    )
    .await;
    let msgs = mesh.sim_messages("fcm").await;
    let mut per_push: HashMap<String, usize> = HashMap::new();
    for m in &msgs {
        *per_push
            .entry(
                m["body"]["message"]["notification"]["body"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
            .or_default() += 1;
    }
    let duplicates = msgs.len() - total;
    println!(
        "sigkill dispatch-fcm: pushes={total} accepted_at_kill={at_kill} accepted_total={} \
         distinct={} duplicates={duplicates} lost=0",
        msgs.len(),
        per_push.len()
    );
    assert!(per_push.values().all(|n| *n >= 1));
    // Every push also got its outcome (duplicates may add more).
    wait_for(
        "a delivered outcome for every push",
        Duration::from_secs(30),
        || async {
            let delivered: HashSet<String> = mesh
                .outcomes()
                .into_iter()
                .filter(|o| o.status == OutcomeStatus::Delivered)
                .map(|o| o.message_id)
                .collect();
            (delivered.len() == total).then_some(())
        },
    )
    .await;
}
