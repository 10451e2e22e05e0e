//! The registry's device API: stable push ids, clear errors, nothing half-written.

use pushmesh_tests::Mesh;
use reqwest::Method;
use serde_json::json;

#[actix_rt::test]
async fn device_api_gives_stable_ids_and_clear_errors() {
    let mesh = Mesh::start().await;
    let path = "/v1/apps/demo/devices";
    let (s1, a) = mesh
        .api(
            Method::POST,
            path,
            Some(json!({"vendor": "fcm", "token": "t1", "platform": "android"})),
        )
        .await;
    let (s2, b) = mesh
        .api(
            Method::POST,
            path,
            Some(json!({"vendor": "fcm", "token": "t1"})),
        )
        .await;
    assert_eq!((s1, s2), (201, 200));
    assert_eq!(
        a["push_id"], b["push_id"],
        "the same token gives the same push_id"
    );
    let push_id = a["push_id"].as_str().unwrap();

    let (s, e) = mesh
        .api(
            Method::POST,
            "/v1/apps/nope/devices",
            Some(json!({"vendor": "fcm", "token": "t"})),
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("unknown_app")));
    let (s, e) = mesh
        .api(
            Method::POST,
            path,
            Some(json!({"vendor": "nokia", "token": "t"})),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("vendor"),
        "{e}"
    );
    let (s, e) = mesh
        .api(Method::POST, path, Some(json!({"vendor": "fcm"})))
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("token"),
        "{e}"
    );
    let (s, e) = mesh
        .api(
            Method::PUT,
            "/v1/apps/demo/devices/unknown/user",
            Some(json!({"user_id": "bob"})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("device_not_found"))
    );
    let (s, e) = mesh
        .api(
            Method::PUT,
            &format!("{path}/{push_id}/user"),
            Some(json!({"user_id": "has space"})),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("user_id"),
        "{e}"
    );

    // Token rotation keeps the push_id; the old token is free again.
    let (s, _) = mesh
        .api(
            Method::PUT,
            &format!("{path}/{push_id}/user"),
            Some(json!({"user_id": "bob"})),
        )
        .await;
    assert_eq!(s, 204);
    let (s, r) = mesh
        .api(
            Method::PUT,
            &format!("{path}/{push_id}"),
            Some(json!({"token": "t2"})),
        )
        .await;
    assert_eq!((s, r["push_id"].as_str()), (200, Some(push_id)));
    let (_, list) = mesh
        .api(Method::GET, "/v1/apps/demo/users/bob/devices", None)
        .await;
    assert_eq!(list["devices"][0]["push_id"], push_id);
    assert_eq!(list["devices"][0]["platform"], "android");
    assert!(
        list["devices"][0].get("token").is_none(),
        "tokens are not handed out"
    );

    let (s, _) = mesh
        .api(Method::DELETE, &format!("{path}/{push_id}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = mesh
        .api(Method::DELETE, &format!("{path}/{push_id}"), None)
        .await;
    assert_eq!(s, 404);
    let (_, list) = mesh
        .api(Method::GET, "/v1/apps/demo/users/bob/devices", None)
        .await;
    assert_eq!(list["devices"], json!([]));
}
