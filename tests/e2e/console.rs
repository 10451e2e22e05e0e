//! The operator's console in a real browser (headless Chromium through chromedriver): log in
//! with the app's server key, look up a user, send a test push and watch its trace, run a dry
//! run and read the request body. `PUSHMESH_SCREENSHOTS=<dir>` saves the main views there
//! (docs/console/ holds the ones docs/console.md shows).

use pushmesh_tests::webdriver::Browser;
use pushmesh_tests::{repo_root, Mesh};
use std::path::PathBuf;

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

    browser.click("#dry-run").await;
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

    browser.click("#lookup").await;
    browser.wait_text("#user-view", "dry_run").await;
    screenshot(&browser, "user").await;
    browser.quit().await;
}
