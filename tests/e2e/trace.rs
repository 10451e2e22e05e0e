//! "Why didn't my push arrive?": every stage's steps for a message, in order, from the trace
//! API, for the app's server key.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::{wait_for, Mesh, MeshOptions};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// The trace of `message_id` once it holds an event `done` accepts.
async fn trace_until(mesh: &Mesh, message_id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let path = format!("/v1/apps/demo/messages/{message_id}/trace");
    wait_for(
        &format!("the trace of {message_id}"),
        Duration::from_secs(20),
        || async {
            let (status, body) = mesh.api(Method::GET, &path, None).await;
            let events = body["events"].as_array().cloned().unwrap_or_default();
            (status == 200 && done(&events)).then_some(events)
        },
    )
    .await
}

/// The events' kinds, in order, with the user and vendor they are about.
fn steps(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let who = [&e["user_id"], &e["vendor"]]
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join("/");
            match e["event"].as_str().unwrap_or("?") {
                "sent" | "outcome" => {
                    let result = e["result"].as_str().or(e["status"].as_str()).unwrap_or("?");
                    format!("{} {who} {result}", e["event"].as_str().unwrap())
                }
                kind => format!("{kind} {who}"),
            }
        })
        .collect()
}

fn index(steps: &[String], step: &str) -> usize {
    steps
        .iter()
        .position(|s| s == step)
        .unwrap_or_else(|| panic!("no `{step}` in {steps:#?}"))
}

#[actix_rt::test]
async fn a_trace_shows_each_recipient_and_device_step_in_order() {
    let mesh = Mesh::start().await;
    let session = json!({"app_id": "demo", "user_id": "carol", "session_id": "s1", "ttl_s": 300});
    mesh.publish("presence.online", session).await;
    mesh.fcm_device("tok-dead", "bob").await;
    mesh.device("huawei", "hw-bob", "bob").await;
    mesh.sim_post("/sim/fcm/dead-tokens", json!({"tokens": ["tok-dead"]}))
        .await;
    // Huawei's rate limit (its 429) is HTTP 503, flow control: vendor-sim answers the fault so.
    mesh.sim_post("/sim/huawei/fault", json!({"status": 429, "count": 1}))
        .await;
    mesh.publish(
        "im.message",
        json!({
            "app_id": "demo", "message_id": "traced", "conversation_type": "group",
            "conversation_id": "g", "sender_id": "alice", "recipients": ["bob", "carol"],
            "push": {"title": "Alice", "content": "hi", "resources_id": "chat"}
        }),
    )
    .await;
    let done = |events: &[Value]| {
        let s = steps(events);
        s.contains(&"outcome bob/huawei delivered".to_owned())
            && s.contains(&"outcome bob/fcm invalid_token".to_owned())
    };
    let events = trace_until(&mesh, "traced", done).await;
    let s = steps(&events);
    let at: Vec<u64> = events
        .iter()
        .map(|e| e["at_us"].as_u64().unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "in time order: {at:?}");
    assert_eq!(s[0], "accepted ", "{s:#?}");
    assert_eq!(events[0]["recipients"], 2);
    assert!(index(&s, "online carol") < s.len(), "carol was online");
    assert!(
        !s.iter().any(|x| x.starts_with("devices carol")),
        "carol's devices are not looked up"
    );
    let offline = index(&s, "offline bob");
    let devices = index(&s, "devices bob");
    assert!(offline < devices, "{s:#?}");
    let devices_event = &events[devices];
    assert_eq!(devices_event["push_ids"].as_array().unwrap().len(), 2);
    // FCM: sent once, the token dead.
    assert!(devices < index(&s, "sent bob/fcm invalid_token"));
    assert!(index(&s, "sent bob/fcm invalid_token") < index(&s, "outcome bob/fcm invalid_token"));
    // Huawei: flow control, retried later, then delivered.
    let first = s
        .iter()
        .position(|x| x.starts_with("sent bob/huawei") && !x.ends_with("delivered"));
    let first = first.unwrap_or_else(|| panic!("a refused Huawei send first: {s:#?}"));
    let waited = s
        .iter()
        .position(|x| x == "retry bob/huawei" || x == "deferred bob/huawei")
        .unwrap_or_else(|| panic!("a retry or deferral: {s:#?}"));
    let wait = &events[waited];
    assert!(wait["due_ms"].as_u64().unwrap() >= wait["at_ms"].as_u64().unwrap());
    assert!(
        wait["reason"].as_str().unwrap().contains("Huawei 503"),
        "{wait}"
    );
    let sent = index(&s, "sent bob/huawei delivered");
    assert!(first < waited && waited < sent && sent < index(&s, "outcome bob/huawei delivered"));
    assert_eq!(events[sent]["resources_id"], "chat");
    assert!(
        events[sent]["vendor_message_id"].is_string(),
        "{}",
        events[sent]
    );
}

#[actix_rt::test]
async fn a_duplicate_is_in_the_trace_not_silent() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.peer_message("twice", "alice", "bob").await;
    mesh.outcome("twice", "bob", OutcomeStatus::Delivered).await;
    mesh.peer_message("twice", "alice", "bob").await;
    let events = trace_until(&mesh, "twice", |e| {
        steps(e).contains(&"duplicate ".to_owned())
    })
    .await;
    let s = steps(&events);
    assert_eq!(s.iter().filter(|x| *x == "accepted ").count(), 1, "{s:#?}");
    assert!(
        index(&s, "outcome bob/fcm delivered") < index(&s, "duplicate "),
        "{s:#?}"
    );
}

#[actix_rt::test]
async fn only_the_apps_server_key_reads_a_trace() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.peer_message("private", "alice", "bob").await;
    mesh.outcome("private", "bob", OutcomeStatus::Delivered)
        .await;
    trace_until(&mesh, "private", |e| !e.is_empty()).await;
    let path = "/v1/apps/demo/messages/private/trace";
    let (status, _) = mesh.api_as(Method::GET, path, None, None).await;
    assert_eq!(status, 401);
    let other = format!(
        "Bearer {}",
        std::fs::read_to_string(pushmesh_tests::repo_root().join("fixtures/other-api-keys"))
            .unwrap()
            .trim()
    );
    let (status, _) = mesh.api_as(Method::GET, path, None, Some(&other)).await;
    assert_eq!(status, 403, "another app's key");
    let (status, body) = mesh
        .api(Method::GET, "/v1/apps/demo/messages/never-sent/trace", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("trace_not_found"))
    );
    // The user's recent messages, with what became of them.
    let (status, body) = mesh
        .api(Method::GET, "/v1/apps/demo/users/bob/messages", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"][0]["message_id"], "private");
    assert_eq!(
        body["messages"][0]["results"][0]["status"], "delivered",
        "{body}"
    );
}

#[actix_rt::test]
async fn a_trace_outlives_a_restart_of_the_registry() {
    let mut mesh = Mesh::start_with(MeshOptions {
        processes: &["registry"],
        ..Default::default()
    })
    .await;
    mesh.start_process("registry").await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.peer_message("kept", "alice", "bob").await;
    mesh.outcome("kept", "bob", OutcomeStatus::Delivered).await;
    let before = trace_until(&mesh, "kept", |e| {
        steps(e).contains(&"outcome bob/fcm delivered".to_owned())
    })
    .await;
    assert!(mesh.terminate_process("registry"));
    mesh.start_process("registry").await;
    let (status, body) = mesh
        .api(Method::GET, "/v1/apps/demo/messages/kept/trace", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["events"].as_array().unwrap(), &before);
}

#[actix_rt::test]
async fn rejected_input_is_listed_with_its_reason() {
    let mesh = Mesh::start().await;
    mesh.publish(
        "im.message",
        json!({"app_id": "demo", "message_id": "bad", "recipients": "bob"}),
    )
    .await;
    let rejected = wait_for("the rejected input", Duration::from_secs(10), || async {
        let (_, body) = mesh.api(Method::GET, "/v1/apps/demo/rejected", None).await;
        body["rejected"]
            .as_array()
            .filter(|r| !r.is_empty())
            .cloned()
    })
    .await;
    assert_eq!(rejected[0]["message_id"], "bad");
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("recipients"),
        "{}",
        rejected[0]
    );
}

#[actix_rt::test]
async fn json_logs_name_the_message_on_every_line_about_it() {
    let mut mesh = Mesh::start_with(MeshOptions {
        processes: &["dispatch-fcm"],
        process_env: &[("PUSHMESH__LOG_FORMAT", "json")],
        ..Default::default()
    })
    .await;
    mesh.start_process("dispatch-fcm").await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.sim_post("/sim/fcm/fault", json!({"status": 503, "count": 1}))
        .await;
    mesh.peer_message("logged", "alice", "bob").await;
    mesh.outcome("logged", "bob", OutcomeStatus::Delivered)
        .await;
    let log = mesh.process_log("dispatch-fcm");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let retried = lines
        .iter()
        .find(|l| l["message"] == "push will be retried")
        .unwrap_or_else(|| panic!("no retry logged: {log}"));
    assert_eq!(retried["message_id"], "logged", "{retried}");
    assert!(retried["push_id"].is_string(), "{retried}");
    assert!(lines
        .iter()
        .all(|l| l["level"].is_string() && l["timestamp"].is_string()));
}
