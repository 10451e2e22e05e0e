//! A dry run: every stage as usual up to the vendor request, which is built, redacted and
//! traced, and never reaches the vendor.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::{wait_for, Mesh};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const VENDORS: [&str; 4] = ["fcm", "huawei", "xiaomi", "oppo"];

#[actix_rt::test]
async fn a_dry_run_traces_each_vendors_request_and_sends_nothing() {
    let mesh = Mesh::start().await;
    let mut push_ids = Vec::new();
    for vendor in VENDORS {
        push_ids.push(
            mesh.device(vendor, &format!("secret-{vendor}-token"), "bob")
                .await,
        );
    }
    mesh.publish(
        "im.message",
        json!({
            "app_id": "demo", "message_id": "dry", "conversation_type": "peer",
            "conversation_id": "c", "sender_id": "alice", "recipients": ["bob"], "dry_run": true,
            "push": {"title": "Alice", "content": "release check", "payload": "{\"conv\":\"c\"}",
                     "resources_id": "chat"}
        }),
    )
    .await;
    let outcomes = mesh.outcomes_of("dry", "bob", VENDORS.len()).await;
    assert!(
        outcomes.iter().all(|o| o.status == OutcomeStatus::DryRun),
        "{outcomes:?}"
    );
    let events = wait_for("the dry run's trace", Duration::from_secs(20), || async {
        let path = "/v1/apps/demo/messages/dry/trace";
        let (_, body) = mesh.api(Method::GET, path, None).await;
        let events = body["events"].as_array().cloned().unwrap_or_default();
        let dry = events.iter().filter(|e| e["event"] == "dry_run").count();
        (dry == VENDORS.len()).then_some(events)
    })
    .await;
    assert_eq!(events[0]["event"], "accepted");
    assert_eq!(events[0]["dry_run"], true);
    for vendor in VENDORS {
        assert!(
            mesh.sim_requests(vendor).await.is_empty(),
            "{vendor} received a request"
        );
    }
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("secret-"), "a token in the trace: {text}");

    let fcm = request_of(&events, "fcm");
    assert_eq!(fcm["method"], "POST");
    assert!(
        fcm["url"].as_str().unwrap().ends_with("/messages:send"),
        "{fcm}"
    );
    let body: Value = serde_json::from_str(fcm["body"].as_str().unwrap()).unwrap();
    let message = &body["message"];
    assert_eq!(message["token"], format!("<token of {}>", push_ids[0]));
    assert_eq!(
        message["notification"],
        json!({"title": "Alice", "body": "release check"})
    );
    assert_eq!(message["data"]["payload"], "{\"conv\":\"c\"}");
    // The resources_id's settings, as the release would send them.
    assert_eq!(message["android"]["notification"]["channel_id"], "messages");
    let auth = header(&fcm, "authorization");
    assert_eq!(auth, "<redacted>");

    let oppo = request_of(&events, "oppo");
    assert_eq!(header(&oppo, "auth_token"), "<redacted>");
    let form = oppo["body"].as_str().unwrap();
    assert!(form.contains("auth_token=<credential>"), "{form}");
    assert!(
        form.contains("release+check") || form.contains("release%20check"),
        "{form}"
    );
}

/// The one request a vendor's dry_run event shows.
fn request_of(events: &[Value], vendor: &str) -> Value {
    let event = events
        .iter()
        .find(|e| e["event"] == "dry_run" && e["vendor"] == vendor)
        .unwrap_or_else(|| panic!("no dry_run for {vendor}: {events:#?}"));
    event["requests"][0].clone()
}

fn header(request: &Value, name: &str) -> String {
    let headers = request["headers"].as_array().unwrap();
    let found = headers.iter().find(|h| h[0] == name);
    found.map_or_else(
        || panic!("no {name} in {request}"),
        |h| h[1].as_str().unwrap().to_owned(),
    )
}
