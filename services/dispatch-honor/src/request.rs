//! Honor's `sendMessage` body for pushes of one message to up to 1000 tokens.

use crate::settings::HonorSettings;
use pushmesh_contract::public::CallEvent;
use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::support::{call_data, call_notify_id, is_invite, ttl_s};
use serde_json::{json, Map, Value};

pub const MAX_BODY_BYTES: usize = 4096;
const MAX_TTL_S: u64 = 15 * 86_400;

pub fn body(pushes: &[DevicePush], s: &HonorSettings, now_ms: u64) -> Result<Value, String> {
    let first = &pushes[0];
    let n = &first.notification;
    let r = n
        .resources_id
        .as_ref()
        .and_then(|id| s.resources.get(id))
        .cloned()
        .unwrap_or_default();
    let call = is_invite(first).then_some(&s.call);
    let importance = r.importance.as_ref().or(call.map(|c| &c.importance));
    let mut body = json!({
        "android": {
            "ttl": format!("{}s", ttl_s(first, now_ms, 1, MAX_TTL_S)),
            "biTag": first.message_id,
            "targetUserType": 0,
            "notification": {
                "title": n.title,
                "body": n.content,
                // 3: open the app.
                "clickAction": {"type": 3},
                "importance": importance.unwrap_or(&s.importance),
            },
        },
    });
    if let Some(call) = &first.call {
        // Every push of a call shows in one place: the missed call replaces the ringing.
        body["android"]["notification"]["notifyId"] = json!(call_notify_id(&call.call_id));
        if call.event == CallEvent::Cancel {
            // A call's withdrawal is a data message the app reads to stop ringing.
            body["android"]
                .as_object_mut()
                .map(|a| a.remove("notification"));
        }
    }
    let mut data = Map::new();
    if let Some(payload) = &n.payload {
        data.insert("payload".into(), json!(payload));
    }
    for (key, value) in call_data(first).into_iter().flatten() {
        data.insert(key.into(), json!(value));
    }
    if !data.is_empty() {
        body["data"] = json!(Value::Object(data).to_string());
    }
    let size = body.to_string().len();
    if size > MAX_BODY_BYTES {
        return Err(format!(
            "the message is {size} bytes, Honor allows {MAX_BODY_BYTES} (tokens excluded)"
        ));
    }
    body["token"] = json!(pushes.iter().map(|p| p.token.as_str()).collect::<Vec<_>>());
    Ok(body)
}
