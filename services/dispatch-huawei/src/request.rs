//! The Push Kit v1 request for pushes of one message to up to 1000 tokens.

use crate::settings::HuaweiSettings;
use pushmesh_contract::public::CallEvent;
use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::support::{call_data, call_notify_id, is_invite, ttl_s};
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

    // A call's invitation goes in Huawei's call class; the resource still has the last word.
    let call = is_invite(first).then_some(&s.call);
    let category = r.category.as_deref();
    let category = category
        .or(call.map(|c| c.category.as_str()))
        .unwrap_or(&s.category);
    let urgency = call.map_or(s.urgency.as_str(), |c| c.urgency.as_str());
    let importance = r.importance.as_ref().or(call.map(|c| &c.importance));
    let channel_id = r
        .channel_id
        .as_ref()
        .or(call.and_then(|c| c.channel_id.as_ref()));

    let mut notification = Map::new();
    notification.insert("title".into(), json!(n.title));
    notification.insert("body".into(), json!(n.content));
    // Required for notification messages; type 3 opens the app.
    notification.insert("click_action".into(), json!({"type": 3}));
    for (key, value) in [
        ("channel_id", channel_id),
        ("importance", importance),
        ("sound", r.sound.as_ref()),
    ] {
        if let Some(v) = value {
            notification.insert(key.into(), json!(v));
        }
    }
    if let Some(call) = &first.call {
        // Every push of a call shows in one place: the missed call replaces the ringing.
        notification.insert("notify_id".into(), json!(call_notify_id(&call.call_id)));
    }
    let mut data = Map::new();
    if let Some(payload) = &n.payload {
        data.insert("payload".into(), json!(payload));
    }
    for (key, value) in call_data(first).into_iter().flatten() {
        data.insert(key.into(), json!(value));
    }
    let mut message = Map::new();
    if !data.is_empty() {
        // `data` is a string; a JSON object in it reaches the app as getDataOfMap().
        message.insert("data".into(), json!(Value::Object(data).to_string()));
    }
    let ttl = format!("{}s", ttl_s(first, now_ms, 1, MAX_TTL_S));
    let android = match first.call_event() {
        // A call's withdrawal is a data message the app reads to stop ringing.
        Some(CallEvent::Cancel) => {
            json!({"urgency": "HIGH", "ttl": ttl, "bi_tag": first.message_id})
        }
        _ => json!({
            "urgency": urgency,
            "category": category,
            "ttl": ttl,
            "bi_tag": first.message_id,
            "notification": notification,
        }),
    };
    message.insert("android".into(), android);
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
