//! The operator's console in a real browser (headless Chromium through chromedriver): log in
//! with the app's server key, look up a user, send a test push and watch its trace, run a dry
//! run and read the request body. `PUSHMESH_SCREENSHOTS=<dir>` saves the main views there
//! (docs/console/ holds the ones docs/console.md shows).

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::webdriver::Browser;
use pushmesh_tests::{repo_root, wait_for, Mesh};
use reqwest::Method;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

async fn screenshot(browser: &Browser, name: &str) {
    if let Some(dir) = std::env::var_os("PUSHMESH_SCREENSHOTS") {
        browser
            .screenshot(&PathBuf::from(dir).join(format!("{name}.png")))
            .await;
    }
}

#[actix_rt::test]
async fn an_operator_sends_a_test_push_and_a_dry_run_and_reads_their_traces() {
    let mesh = Mesh::start().await;
    let push_id = mesh.fcm_device("tok-console", "bob").await;
    let console = format!("{}/console", mesh.registry);
    // Without a session: the login form and nothing else; the API wants a key.
    let page = reqwest::get(&console).await.unwrap().text().await.unwrap();
    assert!(page.contains("server API key") && !page.contains("Test push"));
    let api = format!("{}/v1/apps/demo/users/bob/devices", mesh.registry);
    assert_eq!(reqwest::get(&api).await.unwrap().status(), 401);

    let browser = Browser::start().await;
    browser.goto(&console).await;
    browser.fill("#key", "not-a-key-of-any-app").await;
    browser.click("#login").await;
    browser
        .wait_text("#login-error", "not a server API key")
        .await;
    let key = std::fs::read_to_string(repo_root().join("fixtures/demo-api-keys")).unwrap();
    browser.fill("#key", key.lines().next().unwrap()).await;
    browser.click("#login").await;
    browser.wait_text("#app", "demo").await;
    let vendors = browser.wait_text("#vendors", "fcm").await;
    assert!(vendors.contains("closed"), "{vendors}");

    browser.fill("#user", "bob").await;
    browser.click("#lookup").await;
    let devices = browser.wait_text("#user-view", &push_id).await;
    assert!(devices.contains("fcm"), "{devices}");
    assert!(
        !devices.contains("tok-console"),
        "the token is hidden: {devices}"
    );

    browser.fill("#tp-user", "bob").await;
    browser.fill("#tp-title", "Console check").await;
    browser.click("#send").await;
    let trace = browser.wait_text("#trace", "outcome").await;
    assert!(trace.contains("delivered"), "{trace}");
    for step in ["accepted", "offline", "devices", "sent", "outcome"] {
        assert!(trace.contains(step), "no {step} in the trace: {trace}");
    }
    assert_eq!(mesh.fcm_messages_to("tok-console").await.len(), 1);
    screenshot(&browser, "trace").await;

    let real_id = browser.text("#trace-of").await;
    browser.click("#dry-run").await;
    browser.wait_changed("#trace-of", &real_id).await;
    let trace = browser.wait_text("#trace", "messages:send").await;
    browser.wait_text("#trace", "outcome").await;
    assert!(trace.contains("\"title\": \"Console check\""), "{trace}");
    assert!(trace.contains(&format!("<token of {push_id}>")), "{trace}");
    assert!(!trace.contains("tok-console"), "{trace}");
    assert_eq!(
        mesh.fcm_messages_to("tok-console").await.len(),
        1,
        "the dry run reached vendor-sim"
    );
    screenshot(&browser, "dry-run").await;

    // One device, by push_id: a new trace replaces the dry run's.
    browser.fill("#tp-push", &push_id).await;
    let dry_run_id = browser.text("#trace-of").await;
    browser.click("#send").await;
    browser.wait_changed("#trace-of", &dry_run_id).await;
    let trace = browser.wait_text("#trace", "outcome").await;
    assert!(trace.contains("delivered"), "{trace}");
    assert_eq!(mesh.fcm_messages_to("tok-console").await.len(), 2);

    // bob's phone comes online: the lookup shows the session.
    let online =
        json!({"app_id": "demo", "user_id": "bob", "session_id": "s-console", "ttl_s": 300});
    mesh.publish("presence.online", online).await;
    wait_for("bob online", Duration::from_secs(10), || async {
        let path = "/v1/apps/demo/users/bob/sessions";
        let (_, body) = mesh.api(Method::GET, path, None).await;
        (body["sessions"][0]["session_id"] == "s-console").then_some(())
    })
    .await;
    browser.click("#lookup").await;
    browser.wait_text("#user-view", "s-console").await;
    browser.wait_text("#user-view", "dry_run").await;
    screenshot(&browser, "user").await;
    browser.quit().await;
}

/// What the console's vendor table reads: an open breaker with its failures, a parked push,
/// and the replay that delivers it once the vendor is back.
#[actix_rt::test]
async fn vendor_state_shows_the_breaker_and_parked_pushes_and_replays_them() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    let fault = json!({"status": 503, "for_ms": 60_000});
    mesh.sim_post("/sim/fcm/fault", fault).await;
    // Pushes fail in a row (three open the breaker in tests) and run out of time.
    let ids = ["stuck-1", "stuck-2", "stuck-3", "stuck-4", "stuck-5"];
    for id in ids {
        let message = json!({
            "app_id": "demo", "message_id": id, "conversation_type": "peer",
            "conversation_id": "c", "sender_id": "alice", "recipients": ["bob"], "ttl_s": 2,
            "push": {"title": "t", "content": "c"}
        });
        mesh.publish("im.message", message).await;
    }
    for id in ids {
        mesh.outcome(id, "bob", OutcomeStatus::Expired).await;
    }
    let fcm = wait_for("fcm's state", Duration::from_secs(20), || async {
        let (status, body) = mesh.api(Method::GET, "/v1/apps/demo/vendors", None).await;
        assert_eq!(status, 200, "{body}");
        let vendors = body["vendors"].as_array().unwrap().clone();
        let fcm = vendors.into_iter().find(|v| v["vendor"] == "fcm").unwrap();
        let failed = fcm["failures_5m"].as_u64() >= Some(3);
        (fcm["parked"].as_u64() >= Some(1) && failed).then_some(fcm)
    })
    .await;
    assert!(fcm["failures_5m"].as_u64().unwrap() >= 3, "{fcm}");
    assert!(fcm["breaker"] != "closed", "{fcm}");
    assert!(fcm.get("error").is_none(), "{fcm}");

    mesh.http
        .delete(format!("{}/sim/fcm/fault", mesh.sim))
        .send()
        .await
        .unwrap();
    let (status, body) = mesh
        .api(Method::POST, "/v1/apps/other/vendors/fcm/replay", None)
        .await;
    assert_eq!(
        (status, body["replayed"].as_u64()),
        (200, Some(0)),
        "{body}"
    );
    let (status, body) = mesh
        .api(Method::POST, "/v1/apps/demo/vendors/fcm/replay", None)
        .await;
    assert_eq!(
        (status, body["replayed"].as_u64()),
        (200, Some(ids.len() as u64)),
        "{body}"
    );
    wait_for(
        "the replayed pushes delivered",
        Duration::from_secs(30),
        || async {
            let delivered = mesh.outcomes().into_iter().filter(|o| {
                ids.contains(&o.message_id.as_str()) && o.status == OutcomeStatus::Delivered
            });
            (delivered.count() == ids.len()).then_some(())
        },
    )
    .await;
    let (_, body) = mesh.api(Method::GET, "/v1/apps/demo/vendors", None).await;
    let fcm = &body["vendors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vendor"] == "fcm")
        .cloned();
    assert_eq!(fcm.as_ref().unwrap()["parked"], 0);
}

#[actix_rt::test]
async fn a_test_push_names_one_user_or_one_known_device() {
    let mesh = Mesh::start().await;
    let path = "/v1/apps/demo/test-pushes";
    let neither = json!({"title": "t", "content": "c"});
    let (status, body) = mesh.api(Method::POST, path, Some(neither)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("user_id, push_id"));
    let unknown =
        json!({"push_id": "0123456789abcdef0123456789abcdef", "title": "t", "content": "c"});
    let (status, body) = mesh.api(Method::POST, path, Some(unknown)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("device_not_found"))
    );
    let token = crate::auth::demo_token("bob");
    let by_user = json!({"user_id": "bob", "title": "t", "content": "c"});
    let (status, _) = mesh
        .api_as(Method::POST, path, Some(by_user), Some(&token))
        .await;
    assert_eq!(status, 403, "a user token sends no test push");
}
