//! Whatever a client sends the device API, it answers: a 2xx, or a 4xx with a JSON error that
//! says what is wrong. Never a panic, never a 5xx while the store works.

use super::{json_config, routes, ApiState};
use crate::store::{DeviceStore, RedbDevices};
use actix_web::{test, web, App};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use pushmesh_runtime::Settings;
use serde_json::{json, Value};
use std::sync::Arc;

const CASES: u32 = 1_500;

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("demo".to_owned()),
        Just("bob".to_owned()),
        Just("0123456789abcdef0123456789abcdef".to_owned()),
        "[a-zA-Z0-9._~-]{0,40}",
        "\\PC{1,20}".prop_map(|s| s.bytes().map(|b| format!("%{b:02X}")).collect()),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let field = prop::sample::select(vec![
        "vendor",
        "token",
        "voip_token",
        "user_id",
        "package",
        "platform",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,64}".prop_map(Value::from),
        prop::sample::select(vec!["fcm", "apns", "huawei", "nokia", "bob"]).prop_map(Value::from),
    ];
    let object = prop::collection::btree_map(field, leaf, 0..6)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
    prop_oneof![
        object.prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..256),
    ]
}

/// Requests to the API's six routes and, one in seven, to any method and path; a third of
/// those naming a device name `push_id`, one that exists.
fn request(push_id: String) -> impl Strategy<Value = (String, String, Vec<u8>, usize)> {
    let any_method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]);
    let app = prop_oneof![4 => Just("demo".to_owned()), 1 => segment()];
    let device = prop_oneof![1 => Just(push_id), 2 => segment()];
    (0..7usize, any_method, app, device, body(), 0..3usize).prop_map(
        |(route, any, a, b, body, auth)| {
            let (method, path) = match route {
                0 => ("POST", format!("/v1/apps/{a}/devices")),
                1 => ("PUT", format!("/v1/apps/{a}/devices/{b}")),
                2 => ("DELETE", format!("/v1/apps/{a}/devices/{b}")),
                3 => ("PUT", format!("/v1/apps/{a}/devices/{b}/user")),
                4 => ("DELETE", format!("/v1/apps/{a}/devices/{b}/user")),
                5 => ("GET", format!("/v1/apps/{a}/users/{b}/devices")),
                _ => (any, format!("/v1/{a}/{b}")),
            };
            (method.to_owned(), path, body, auth)
        },
    )
}

#[actix_rt::test]
async fn any_request_gets_a_2xx_or_a_4xx_that_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let toml = format!(
        "data_dir = \"unused\"\n[amqp]\nurl = \"amqp://unused\"\n[api]\nrate_per_s = 1000000\nburst = 1000000\n\
         [api.apps.demo]\nkeys_file = \"{f}/demo-api-keys\"\ntoken_secret_file = \"{f}/demo-token-secret\"\n\
         [apps.demo.fcm]\nproject_id = \"p\"\n",
        f = fixtures.display()
    );
    let settings = Arc::new(Settings::from_toml(&toml).unwrap());
    let store: Arc<dyn DeviceStore> =
        Arc::new(RedbDevices::open(&dir.path().join("r.redb"), 1 << 20).unwrap());
    let state = web::Data::new(ApiState::new(store, settings).unwrap());
    let app = test::init_service(
        App::new()
            .app_data(state)
            .app_data(json_config())
            .configure(routes),
    )
    .await;
    let key = std::fs::read_to_string(fixtures.join("demo-api-keys")).unwrap();
    let secret = std::fs::read_to_string(fixtures.join("demo-token-secret")).unwrap();
    let claims =
        json!({"sub": "bob", "app": "demo", "exp": pushmesh_contract::now_ms() / 1000 + 3600});
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.trim().as_bytes()),
    )
    .unwrap();
    let credentials = [
        None,
        Some(format!("Bearer {}", key.trim())),
        Some(format!("Bearer {token}")),
    ];

    let register = test::TestRequest::post()
        .uri("/v1/apps/demo/devices")
        .insert_header(("authorization", credentials[2].as_deref().unwrap()))
        .set_json(json!({"vendor": "fcm", "token": "bobs-phone"}));
    let registered: Value = test::call_and_read_body_json(&app, register.to_request()).await;
    let push_id = registered["push_id"].as_str().unwrap().to_owned();

    let mut answered = std::collections::BTreeMap::<u16, u32>::new();
    let mut runner = TestRunner::deterministic();
    let strategy = request(push_id);
    for _ in 0..CASES {
        let (method, path, body, auth) = strategy.new_tree(&mut runner).unwrap().current();
        let mut req = test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(&path)
            .insert_header(("content-type", "application/json"))
            .set_payload(body.clone());
        if let Some(header) = &credentials[auth] {
            req = req.insert_header(("authorization", header.as_str()));
        }
        let resp = test::call_service(&app, req.to_request()).await;
        let status = resp.status();
        *answered.entry(status.as_u16()).or_default() += 1;
        let answer = test::read_body(resp).await;
        let case = format!("{method} {path} {:?}", String::from_utf8_lossy(&body));
        assert!(status.as_u16() < 500, "{case}: {status} {answer:?}");
        // A 4xx of the API says why in its JSON error; the router's own 404/405 have no body.
        if status.is_client_error() && !answer.is_empty() {
            let error: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
            assert!(
                error["error"]["message"].is_string(),
                "{case}: {status} {answer:?}"
            );
        }
    }
    // The cases reach past the router: some are let in, some refused by the API itself.
    let api_refused: u32 = [400, 401, 403, 413]
        .iter()
        .filter_map(|s| answered.get(s))
        .sum();
    let let_in: u32 = answered.range(200..300).map(|(_, n)| n).sum();
    assert!(let_in > 0 && api_refused > CASES / 10, "{answered:?}");
}
