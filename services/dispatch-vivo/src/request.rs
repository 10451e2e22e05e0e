//! vivo's message JSON: `/message/send` for one device; for more, `/message/saveListPayload`
//! (the message without a target) then `/message/pushToList` (up to 1000 regIds).

use crate::settings::VivoSettings;
use md5::{Digest, Md5};
use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::support::{check_chars, hex, ttl_s};
use serde_json::{json, Value};

pub const MAX_TITLE: usize = 40;
pub const MAX_CONTENT: usize = 100;
pub const MAX_CUSTOM_MAP: usize = 1024;
const MIN_TTL_S: u64 = 60;
const MAX_TTL_S: u64 = 7 * 86_400;

/// vivo wants a unique `requestId` per message. Derived from the ids, a retried or redelivered
/// send carries the same one, so vivo (and anyone reading its logs) can tell it is a repeat.
pub fn request_id(pushes: &[DevicePush]) -> String {
    let mut h = Md5::new();
    h.update(pushes[0].message_id.as_bytes());
    for p in pushes {
        h.update([0]);
        h.update(p.push_id.as_bytes());
    }
    hex(&h.finalize())
}

/// The message fields shared by every target (no `regId`).
pub fn message(pushes: &[DevicePush], s: &VivoSettings, now_ms: u64) -> Result<Value, String> {
    let first = &pushes[0];
    let n = &first.notification;
    check_chars("vivo", "title", &n.title, MAX_TITLE)?;
    check_chars("vivo", "content", &n.content, MAX_CONTENT)?;
    let r = n
        .resources_id
        .as_ref()
        .and_then(|id| s.resources.get(id))
        .cloned()
        .unwrap_or_default();
    let mut m = json!({
        "appId": s.app_id,
        "notifyType": r.notify_type.unwrap_or(s.notify_type),
        "title": n.title,
        "content": n.content,
        "timeToLive": ttl_s(first, now_ms, MIN_TTL_S, MAX_TTL_S),
        "skipType": 1,
        "classification": r.classification.unwrap_or(s.classification),
        "category": r.category.unwrap_or_else(|| s.category.clone()),
        "requestId": request_id(pushes),
    });
    if let Some(payload) = &n.payload {
        let map = json!({ "payload": payload });
        check_chars(
            "vivo",
            "payload (clientCustomMap)",
            &map.to_string(),
            MAX_CUSTOM_MAP,
        )?;
        m["clientCustomMap"] = map;
    }
    Ok(m)
}
