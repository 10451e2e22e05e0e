//! The Push Kit v1 request for pushes of one message to up to 1000 tokens.

use crate::settings::HuaweiSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::support::ttl_s;
use serde_json::{json, Map, Value};

/// Huawei's limit on the message body, tokens excluded.
pub const MAX_BODY_BYTES: usize = 4096;
const MAX_TTL_S: u64 = 1_296_000;

/// `{"validate_only": false, "message": {...}}`, or why it cannot be sent.
pub fn body(pushes: &[DevicePush], s: &HuaweiSettings, now_ms: u64) -> Result<Value, String> {
    let first = &pushes[0];
    let n = &first.notification;
    let r = n
        .resources_id
        .as_ref()
        .and_then(|id| s.resources.get(id))
        .cloned()
        .unwrap_or_default();

    let mut notification = Map::new();
    notification.insert("title".into(), json!(n.title));
    notification.insert("body".into(), json!(n.content));
    // Required for notification messages; type 3 opens the app.
    notification.insert("click_action".into(), json!({"type": 3}));
    for (key, value) in [
        ("channel_id", &r.channel_id),
        ("importance", &r.importance),
        ("sound", &r.sound),
    ] {
        if let Some(v) = value {
            notification.insert(key.into(), json!(v));
        }
    }
    let mut message = Map::new();
    if let Some(payload) = &n.payload {
        // `data` is a string; a JSON object in it reaches the app as getDataOfMap().get("payload").
        message.insert(
            "data".into(),
            json!(json!({ "payload": payload }).to_string()),
        );
    }
    message.insert(
        "android".into(),
        json!({
            "urgency": s.urgency,
            "category": r.category.as_deref().unwrap_or(&s.category),
            "ttl": format!("{}s", ttl_s(first, now_ms, 1, MAX_TTL_S)),
            "bi_tag": first.message_id,
            "notification": notification,
        }),
    );
    let size = Value::Object(message.clone()).to_string().len();
    if size > MAX_BODY_BYTES {
        return Err(format!(
            "the message is {size} bytes, Huawei allows {MAX_BODY_BYTES} (tokens excluded)"
        ));
    }
    let tokens: Vec<&str> = pushes.iter().map(|p| p.token.as_str()).collect();
    message.insert("token".into(), json!(tokens));
    Ok(json!({"validate_only": false, "message": message}))
}
