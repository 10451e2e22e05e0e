//! Processes stopped mid-stream lose nothing. Each test runs one service as a real process,
//! stops it (SIGKILL, or SIGTERM for the graceful stop) while pushes flow, starts it again and
//! counts what vendor-sim received. Run with `--nocapture` to see the figures.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::{wait_for, Mesh, MeshOptions};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Accepted FCM pushes, counted per (device, message).
async fn received(mesh: &Mesh) -> HashMap<String, usize> {
    let mut per_push = HashMap::new();
    for m in mesh.sim_messages("fcm").await {
        let body = m["body"]["message"]["notification"]["body"]
            .as_str()
            .unwrap_or_default();
        let token = m["tokens"][0].as_str().unwrap_or_default();
        *per_push.entry(format!("{token}:{body}")).or_default() += 1;
    }
    per_push
}

async fn publish_rounds(mesh: &Mesh, users: usize, rounds: std::ops::Range<usize>) {
    for i in rounds {
        for u in 0..users {
            mesh.peer_message(&format!("m-{u}-{i}"), "sender", &format!("user-{u}"))
                .await;
        }
    }
}

struct Figures {
    lost: usize,
    duplicates: usize,
}

/// `users` devices, `rounds` messages each: half published, the process stopped once a tenth
/// has reached vendor-sim, the other half published while it is down, then it starts again.
async fn stop_mid_stream(
    service: &'static str,
    processes: &'static [&'static str],
    users: usize,
    rounds: usize,
    latency_ms: u64,
    stop: fn(&mut Mesh, &'static str),
) -> Figures {
    let mut mesh = Mesh::start_with(MeshOptions {
        processes,
        ..Default::default()
    })
    .await;
    mesh.start_process(service).await;
    for u in 0..users {
        mesh.fcm_device(&format!("tok-{u}"), &format!("user-{u}"))
            .await;
    }
    mesh.sim_post("/sim/fcm/latency", json!({"ms": latency_ms}))
        .await;
    let total = users * rounds;
    publish_rounds(&mesh, users, 0..rounds / 2).await;
    wait_for(
        "a tenth of the pushes at vendor-sim",
        Duration::from_secs(60),
        || async { (mesh.sim_messages("fcm").await.len() >= total / 10).then_some(()) },
    )
    .await;
    stop(&mut mesh, service);
    let at_stop = mesh.sim_messages("fcm").await.len();
    publish_rounds(&mesh, users, rounds / 2..rounds).await;
    mesh.start_process(service).await;
    wait_for(
        "every push at vendor-sim",
        Duration::from_secs(180),
        || async { (received(&mesh).await.len() == total).then_some(()) },
    )
    .await;
    // Every push also got its delivered outcome.
    wait_for(
        "a delivered outcome for every push",
        Duration::from_secs(60),
        || async {
            let delivered: HashSet<(String, String)> = mesh
                .outcomes()
                .into_iter()
                .filter(|o| o.status == OutcomeStatus::Delivered)
                .map(|o| (o.message_id, o.user_id))
                .collect();
            (delivered.len() == total).then_some(())
        },
    )
    .await;
    let per_push = received(&mesh).await;
    let accepted: usize = per_push.values().sum();
    let figures = Figures {
        lost: total - per_push.len(),
        duplicates: accepted - per_push.len(),
    };
    println!(
        "{service} stopped mid-stream: pushes={total} accepted_at_stop={at_stop} accepted_total={accepted} lost={} duplicates={}",
        figures.lost, figures.duplicates
    );
    figures
}

fn sigkill(mesh: &mut Mesh, service: &'static str) {
    mesh.kill_process(service);
}

fn sigterm(mesh: &mut Mesh, service: &'static str) {
    assert!(
        mesh.terminate_process(service),
        "{service} exits with success on SIGTERM"
    );
}

// An upstream stage's redelivery re-resolves to the same (message, device) pairs, which the
// dispatcher finds settled: no duplicate reaches the vendor.

#[actix_rt::test]
async fn sigkill_of_ingest_loses_and_doubles_nothing() {
    let f = stop_mid_stream("ingest", &["ingest"], 50, 100, 0, sigkill).await;
    assert_eq!((f.lost, f.duplicates), (0, 0));
}

#[actix_rt::test]
async fn sigkill_of_presence_loses_and_doubles_nothing() {
    let f = stop_mid_stream("presence", &["presence"], 50, 100, 0, sigkill).await;
    assert_eq!((f.lost, f.duplicates), (0, 0));
}

#[actix_rt::test]
async fn sigkill_of_registry_loses_and_doubles_nothing() {
    let f = stop_mid_stream("registry", &["registry"], 50, 100, 0, sigkill).await;
    assert_eq!((f.lost, f.duplicates), (0, 0));
}

/// The dispatcher itself: what was in flight at the kill (and answers not yet on disk) may go
/// out twice (docs/reliability.md); nothing is lost.
#[actix_rt::test]
async fn sigkill_of_the_fcm_dispatcher_loses_no_push() {
    let f = stop_mid_stream("dispatch-fcm", &["dispatch-fcm"], 20, 100, 50, sigkill).await;
    assert_eq!(f.lost, 0);
}

/// SIGTERM: the batch in flight is finished and acked before the process exits, so nothing is
/// sent twice.
#[actix_rt::test]
async fn sigterm_of_the_fcm_dispatcher_finishes_its_batch_and_doubles_nothing() {
    let f = stop_mid_stream("dispatch-fcm", &["dispatch-fcm"], 20, 50, 20, sigterm).await;
    assert_eq!((f.lost, f.duplicates), (0, 0));
}
