//! OPPO's message JSON: one `unicast` message, or `unicast_batch` messages (up to 1000).

use crate::settings::OppoSettings;
use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::support::{call_data, check_chars, is_invite, ttl_s};
use serde_json::{json, Value};

pub const MAX_TITLE: usize = 50;
pub const MAX_ACTION_PARAMETERS: usize = 4000;
/// off_line_ttl: at most 10 days.
const MAX_TTL_S: u64 = 10 * 86_400;

/// The `notification` object shared by every target of one message.
pub fn notification(push: &DevicePush, s: &OppoSettings, now_ms: u64) -> Result<Value, String> {
    let n = &push.notification;
    check_chars("OPPO", "title", &n.title, MAX_TITLE)?;
    check_chars("OPPO", "content", &n.content, s.max_content())?;
    let r = n
        .resources_id
        .as_ref()
        .and_then(|id| s.resources.get(id))
        .cloned()
        .unwrap_or_default();
    let call = is_invite(push).then_some(&s.call);
    let category = r.category.or(call.map(|c| c.category.clone()));
    let notify_level = r.notify_level.or(call.map(|c| c.notify_level));
    let call_channel = call.and_then(|c| c.channel_id.clone());
    let ttl_s = ttl_s(push, now_ms, 1, MAX_TTL_S);
    let mut notification = json!({
        "app_message_id": push.message_id,
        "style": s.style,
        "title": n.title,
        "content": n.content,
        // 0: open the app's launcher activity, which reads the extras.
        "click_action_type": 0,
        "channel_id": r.channel_id.or(call_channel).unwrap_or_else(|| s.channel_id.clone()),
        "category": category.unwrap_or_else(|| s.category.clone()),
        "notify_level": notify_level.unwrap_or(s.notify_level),
        "off_line": true,
        "off_line_ttl": ttl_s,
    });
    if call.is_some() {
        // OPPO cannot withdraw a notification: a ringing one leaves the tray when the call
        // would have timed out.
        notification["show_ttl"] = json!(ttl_s);
    }
    let mut params = serde_json::Map::new();
    if let Some(payload) = &n.payload {
        params.insert("payload".into(), json!(payload));
    }
    for (key, value) in call_data(push).into_iter().flatten() {
        params.insert(key.into(), json!(value));
    }
    if !params.is_empty() {
        // A JSON string; its keys reach the opened activity as intent extras ("payload").
        let params = Value::Object(params).to_string();
        check_chars(
            "OPPO",
            "payload (action_parameters)",
            &params,
            MAX_ACTION_PARAMETERS,
        )?;
        notification["action_parameters"] = json!(params);
    }
    Ok(notification)
}

/// One message to one registration id.
pub fn message(push: &DevicePush, notification: &Value) -> Value {
    json!({
        "target_type": 2,
        "target_value": push.token,
        "verify_registration_id": true,
        "notification": notification,
    })
}
