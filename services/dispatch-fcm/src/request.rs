//! The FCM HTTP v1 request body for one push.

use crate::settings::{FcmResource, FcmSettings};
use pushmesh_contract::stage::DevicePush;
use serde_json::{json, Map, Value};

/// `{"message": {...}}` for `POST /v1/projects/{project}/messages:send`.
pub fn body(push: &DevicePush, settings: &FcmSettings, now_ms: u64) -> Value {
    let n = &push.notification;
    let resource = n
        .resources_id
        .as_ref()
        .and_then(|r| settings.resources.get(r))
        .cloned()
        .unwrap_or_default();
    // TTL: what is left of the push's life, so a late retry does not outlive its message.
    let ttl_s = push
        .expires_at_ms
        .saturating_sub(now_ms)
        .div_ceil(1000)
        .min(2_419_200);

    let mut android = Map::new();
    android.insert(
        "priority".into(),
        json!(resource.priority.as_deref().unwrap_or(&settings.priority)),
    );
    android.insert("ttl".into(), json!(format!("{ttl_s}s")));
    if let Some(key) = &resource.collapse_key {
        android.insert("collapse_key".into(), json!(key));
    }
    if let Some(package) = &push.package {
        android.insert("restricted_package_name".into(), json!(package));
    }
    if let Some(notification) = android_notification(&resource) {
        android.insert("notification".into(), notification);
    }

    let mut message = Map::new();
    message.insert("token".into(), json!(push.token));
    message.insert(
        "notification".into(),
        json!({"title": n.title, "body": n.content}),
    );
    if let Some(payload) = &n.payload {
        // data values must be strings; the app reads getData().get("payload").
        message.insert("data".into(), json!({ "payload": payload }));
    }
    message.insert("android".into(), Value::Object(android));
    json!({ "message": message })
}

fn android_notification(r: &FcmResource) -> Option<Value> {
    let mut n = Map::new();
    if let Some(c) = &r.channel_id {
        n.insert("channel_id".into(), json!(c));
    }
    if let Some(s) = &r.sound {
        n.insert("sound".into(), json!(s));
    }
    (!n.is_empty()).then_some(Value::Object(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushmesh_contract::stage::Notification;
    use pushmesh_contract::Vendor;

    fn settings() -> FcmSettings {
        serde_json::from_value(json!({
            "project_id": "p", "service_account_file": "sa.json",
            "resources": {"chat": {"channel_id": "im", "sound": "ding", "collapse_key": "chat"}}
        }))
        .unwrap()
    }

    fn push(resources_id: Option<&str>) -> DevicePush {
        DevicePush {
            app_id: "demo".into(),
            message_id: "m1".into(),
            user_id: "bob".into(),
            push_id: "p1".into(),
            vendor: Vendor::Fcm,
            token: "tok".into(),
            token_gen: 1,
            package: Some("com.example.im".into()),
            notification: Notification {
                title: "Alice".into(),
                content: "hi".into(),
                payload: Some("{\"conv\":\"c1\"}".into()),
                resources_id: resources_id.map(Into::into),
            },
            expires_at_ms: 10_500,
            attempt: 0,
            not_before_ms: 0,
            replays: 0,
        }
    }

    #[test]
    fn shape_follows_fcm_v1() {
        let b = body(&push(Some("chat")), &settings(), 1_000);
        let m = &b["message"];
        assert_eq!(m["token"], "tok");
        assert_eq!(m["notification"], json!({"title": "Alice", "body": "hi"}));
        assert_eq!(m["data"]["payload"], "{\"conv\":\"c1\"}");
        assert_eq!(m["android"]["priority"], "HIGH");
        assert_eq!(m["android"]["ttl"], "10s");
        assert_eq!(m["android"]["collapse_key"], "chat");
        assert_eq!(m["android"]["restricted_package_name"], "com.example.im");
        assert_eq!(
            m["android"]["notification"],
            json!({"channel_id": "im", "sound": "ding"})
        );
    }

    #[test]
    fn no_payload_no_data_and_unknown_resource_uses_defaults() {
        let mut p = push(Some("nope"));
        p.notification.payload = None;
        let b = body(&p, &settings(), 1_000);
        assert!(b["message"].get("data").is_none());
        assert!(b["message"]["android"].get("notification").is_none());
    }
}
