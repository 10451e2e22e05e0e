//! The device API as an attacker meets it: a user token reaches its own user's devices only,
//! a server key its own app only, and nothing answers without a credential.

use pushmesh_contract::now_ms;
use pushmesh_contract::public::OutcomeStatus;
use pushmesh_tests::{repo_root, wait_for, Mesh, MeshOptions};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// A user token as the app's server mints it: HS256 with the app's secret (`exp` from now).
fn user_token(app: &str, user: &str, secret: &str, exp_in_s: i64) -> String {
    let exp = (now_ms() / 1000) as i64 + exp_in_s;
    let claims = json!({"sub": user, "app": app, "exp": exp});
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    )
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("fixtures").join(name))
        .unwrap()
        .trim()
        .to_owned()
}

pub(crate) fn demo_token(user: &str) -> String {
    user_token("demo", user, &fixture("demo-token-secret"), 600)
}

/// What bob's phone does at login: register its vendor token, bind the device to bob.
async fn phone_login(mesh: &Mesh, token: &str, vendor_token: &str, user: &str) -> String {
    let (status, body) = mesh
        .api_as(
            Method::POST,
            "/v1/apps/demo/devices",
            Some(json!({"vendor": "fcm", "token": vendor_token})),
            Some(token),
        )
        .await;
    assert!(status == 201 || status == 200, "{status} {body}");
    let push_id = body["push_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/apps/demo/devices/{push_id}/user");
    let (status, body) = mesh
        .api_as(
            Method::PUT,
            &path,
            Some(json!({"user_id": user})),
            Some(token),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    push_id
}

#[actix_rt::test]
async fn mallory_cannot_touch_bobs_device_and_bobs_pushes_stay_bobs() {
    let mesh = Mesh::start().await;
    let (bob, mallory) = (demo_token("bob"), demo_token("mallory"));
    let push_id = phone_login(&mesh, &bob, "bob-fcm-token", "bob").await;
    phone_login(&mesh, &mallory, "mallory-fcm-token", "mallory").await;

    let device = format!("/v1/apps/demo/devices/{push_id}");
    let user = format!("{device}/user");
    let attempts: [(Method, &str, Option<Value>); 5] = [
        (Method::GET, "/v1/apps/demo/users/bob/devices", None),
        (Method::PUT, &user, Some(json!({"user_id": "mallory"}))),
        (Method::DELETE, &user, None),
        (
            Method::PUT,
            &device,
            Some(json!({"token": "mallory-fcm-token-2"})),
        ),
        (Method::DELETE, &device, None),
    ];
    for (method, path, body) in attempts {
        let (status, answer) = mesh
            .api_as(method.clone(), path, body, Some(&mallory))
            .await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "forbidden");
    }
    // Binding bob's device to bob is bob's to do, not mallory's either.
    let (status, _) = mesh
        .api_as(
            Method::PUT,
            &user,
            Some(json!({"user_id": "bob"})),
            Some(&mallory),
        )
        .await;
    assert_eq!(status, 403);

    mesh.peer_message("after-attack", "alice", "bob").await;
    mesh.outcome("after-attack", "bob", OutcomeStatus::Delivered)
        .await;
    let sent = mesh.sim_messages("fcm").await;
    let tokens: Vec<&Value> = sent.iter().map(|m| &m["tokens"][0]).collect();
    assert_eq!(
        tokens,
        [&json!("bob-fcm-token")],
        "bob's push went to bob's phone only"
    );
}

#[actix_rt::test]
async fn every_bad_credential_is_refused_with_its_reason() {
    let mesh = Mesh::start().await;
    let path = "/v1/apps/demo/users/bob/devices";
    let other_key = format!("Bearer {}", fixture("other-api-keys"));
    let cases: Vec<(Option<String>, u16, &str)> = vec![
        (None, 401, "no credential"),
        (Some("Basic Ym9iOnNlY3JldA==".into()), 401, "Bearer"),
        (
            Some("Bearer not-a-key-of-any-app-0000".into()),
            401,
            "unknown API key",
        ),
        (Some(other_key), 403, "another app's"),
        (
            Some(user_token(
                "demo",
                "bob",
                &fixture("demo-token-secret"),
                -120,
            )),
            401,
            "expired",
        ),
        (
            Some(user_token(
                "demo",
                "bob",
                "a-secret-that-is-not-demo-s-at-all",
                600,
            )),
            401,
            "signature",
        ),
        (
            Some(user_token(
                "other",
                "bob",
                &fixture("other-token-secret"),
                600,
            )),
            403,
            "for app `other`",
        ),
    ];
    for (header, status, reason) in cases {
        let (got, body) = mesh
            .api_as(Method::GET, path, None, header.as_deref())
            .await;
        assert_eq!(got, status, "{header:?}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{header:?}: {message}");
    }
    let (status, _) = mesh
        .api_as(Method::GET, path, None, Some(&demo_token("bob")))
        .await;
    assert_eq!(status, 200, "bob's own token lists bob's devices");
}

/// A phone that changes hands: mallory's phone presents the vendor token bob's login left on
/// it, which proves she holds the phone, and may then bind it; bob loses it.
#[actix_rt::test]
async fn a_phone_moves_to_a_new_user_only_by_presenting_its_vendor_token() {
    let mesh = Mesh::start().await;
    let (bob, mallory) = (demo_token("bob"), demo_token("mallory"));
    let push_id = phone_login(&mesh, &bob, "shared-phone-token", "bob").await;
    assert_eq!(
        phone_login(&mesh, &mallory, "shared-phone-token", "mallory").await,
        push_id
    );
    let (_, body) = mesh
        .api_as(
            Method::GET,
            "/v1/apps/demo/users/bob/devices",
            None,
            Some(&bob),
        )
        .await;
    assert_eq!(
        body["devices"],
        json!([]),
        "bob's login is gone from the phone"
    );
}

#[actix_rt::test]
async fn a_caller_over_its_rate_is_told_when_to_come_back() {
    let mesh = Mesh::start_with(MeshOptions {
        extra_toml: "[api]\nrate_per_s = 1\nburst = 3\n".into(),
        ..Default::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let resp = mesh
            .http
            .get(format!("{}/v1/apps/demo/users/bob/devices", mesh.registry))
            .header("authorization", demo_token("bob"))
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            let after: u64 = resp.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&after), "Retry-After {after}");
        }
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(&statuses[..3], [200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    // Another user is counted apart.
    let (status, _) = mesh
        .api_as(
            Method::GET,
            "/v1/apps/demo/users/carol/devices",
            None,
            Some(&demo_token("carol")),
        )
        .await;
    assert_eq!(status, 200);
}

#[actix_rt::test]
async fn a_body_over_the_limit_is_refused() {
    let mesh = Mesh::start().await;
    let huge = "x".repeat(64 * 1024);
    let (status, body) = mesh
        .api(
            Method::POST,
            "/v1/apps/demo/devices",
            Some(json!({"vendor": "fcm", "token": huge})),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "body_too_large", "{body}");
}

/// Two keys valid during a rotation; the old one gone once the registry restarts without it.
#[actix_rt::test]
async fn a_server_key_rotates_without_a_gap() {
    let keys = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        keys.path(),
        "old-key-of-demo-0000000001\nnew-key-of-demo-0000000002\n",
    )
    .unwrap();
    let mut mesh = Mesh::start_with(MeshOptions {
        processes: &["registry"],
        api_keys_file: Some(keys.path().to_owned()),
        ..Default::default()
    })
    .await;
    mesh.start_process("registry").await;
    let path = "/v1/apps/demo/users/bob/devices";
    for key in ["old-key-of-demo-0000000001", "new-key-of-demo-0000000002"] {
        let (status, _) = mesh
            .api_as(Method::GET, path, None, Some(&format!("Bearer {key}")))
            .await;
        assert_eq!(status, 200, "{key}");
    }
    std::fs::write(keys.path(), "new-key-of-demo-0000000002\n").unwrap();
    assert!(mesh.terminate_process("registry"));
    mesh.start_process("registry").await;
    let (status, _) = mesh
        .api_as(
            Method::GET,
            path,
            None,
            Some("Bearer old-key-of-demo-0000000001"),
        )
        .await;
    assert_eq!(status, 401, "the old key is gone");
    let (status, _) = mesh
        .api_as(
            Method::GET,
            path,
            None,
            Some("Bearer new-key-of-demo-0000000002"),
        )
        .await;
    assert_eq!(status, 200);
}

/// A vendor token, an API key and a user token go in; none of them comes out anywhere an
/// operator or another caller looks: answers, outcomes, metrics, logs.
#[actix_rt::test]
async fn no_token_or_key_shows_in_answers_outcomes_metrics_or_logs() {
    let mut mesh = Mesh::start_with(MeshOptions {
        processes: &["registry", "dispatch-fcm"],
        ..Default::default()
    })
    .await;
    mesh.start_process("registry").await;
    mesh.start_process("dispatch-fcm").await;
    let vendor_token = "fcm-token-that-must-stay-secret-0001";
    let bob = demo_token("bob");
    let push_id = phone_login(&mesh, &bob, vendor_token, "bob").await;
    let (_, listed) = mesh
        .api_as(
            Method::GET,
            "/v1/apps/demo/users/bob/devices",
            None,
            Some(&bob),
        )
        .await;
    assert_eq!(listed["devices"][0]["push_id"], push_id.as_str());
    mesh.sim_post("/sim/fcm/dead-tokens", json!({"tokens": [vendor_token]}))
        .await;
    mesh.peer_message("to-dead", "alice", "bob").await;
    let outcome = mesh
        .outcome("to-dead", "bob", OutcomeStatus::InvalidToken)
        .await;

    // The logs do speak of the device, by its push_id.
    wait_for(
        "the registry to log the deletion",
        Duration::from_secs(10),
        || async {
            mesh.process_log("registry")
                .contains(&push_id)
                .then_some(())
        },
    )
    .await;
    let mut seen = vec![
        ("the device list", listed.to_string()),
        ("the outcome", serde_json::to_string(&outcome).unwrap()),
        ("the registry log", mesh.process_log("registry")),
        ("the FCM dispatcher log", mesh.process_log("dispatch-fcm")),
    ];
    for (service, url) in mesh.services() {
        let metrics = mesh
            .http
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap();
        seen.push((
            "metrics",
            format!("{service}: {}", metrics.text().await.unwrap()),
        ));
    }
    let signature = bob.rsplit('.').next().unwrap();
    let secrets = [
        vendor_token,
        &fixture("demo-api-keys"),
        &fixture("demo-token-secret"),
        signature,
    ];
    for (place, text) in &seen {
        for secret in secrets {
            assert!(!text.contains(secret), "{place} shows a secret: {text}");
        }
    }
}
