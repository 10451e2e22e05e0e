//! vivo's message JSON: `/message/send` for one device; for more, `/message/saveListPayload`
//! (the message without a target) then `/message/pushToList` (up to 1000 regIds).

use crate::settings::VivoSettings;
use md5::{Digest, Md5};
use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::support::{call_data, check_chars, hex, is_invite, ttl_s};
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
    // A call's invitation and its missed-call notice share the call id, not the request.
    if let Some(event) = pushes[0].call_event() {
        h.update(event.as_str().as_bytes());
    }
    for p in pushes {
        h.update([0]);
        h.update(p.push_id.as_bytes());
    }
    hex(&h.finalize())
}

/// Operational messages (classification 0) may only be pushed 07:00-23:00 Beijing time: how
/// long until the window opens, if `now_ms` is outside it. System messages (IM) have no window.
pub fn outside_operational_hours(
    push: &DevicePush,
    s: &VivoSettings,
    now_ms: u64,
) -> Option<std::time::Duration> {
    let r = push
        .notification
        .resources_id
        .as_ref()
        .and_then(|id| s.resources.get(id));
    let call = is_invite(push).then_some(s.call.classification);
    if r.and_then(|r| r.classification)
        .or(call)
        .unwrap_or(s.classification)
        != 0
    {
        return None;
    }
    const HOUR: u64 = 3_600_000;
    let into_day = (now_ms + 8 * HOUR) % (24 * HOUR);
    let (open, close) = (7 * HOUR, 23 * HOUR);
    match into_day {
        t if t < open => Some(std::time::Duration::from_millis(open - t)),
        t if t >= close => Some(std::time::Duration::from_millis(24 * HOUR - t + open)),
        _ => None,
    }
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
    let call = is_invite(first).then_some(&s.call);
    let notify_type = r.notify_type.or(call.map(|c| c.notify_type));
    let classification = r.classification.or(call.map(|c| c.classification));
    let category = r.category.or(call.map(|c| c.category.clone()));
    let mut m = json!({
        "appId": s.app_id,
        "notifyType": notify_type.unwrap_or(s.notify_type),
        "title": n.title,
        "content": n.content,
        "timeToLive": ttl_s(first, now_ms, MIN_TTL_S, MAX_TTL_S),
        "skipType": 1,
        "classification": classification.unwrap_or(s.classification),
        "category": category.unwrap_or_else(|| s.category.clone()),
        "requestId": request_id(pushes),
    });
    let mut map = serde_json::Map::new();
    if let Some(payload) = &n.payload {
        map.insert("payload".into(), json!(payload));
    }
    for (key, value) in call_data(first).into_iter().flatten() {
        map.insert(key.into(), json!(value));
    }
    if !map.is_empty() {
        let map = Value::Object(map);
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

#[cfg(test)]
mod tests {
    use super::*;
    use pushmesh_contract::stage::Notification;
    use pushmesh_contract::Vendor;
    use std::time::Duration;

    fn push() -> DevicePush {
        DevicePush {
            app_id: "a".into(),
            message_id: "m".into(),
            user_id: "u".into(),
            push_id: "p".into(),
            vendor: Vendor::Vivo,
            token: "t".into(),
            token_gen: 1,
            package: None,
            notification: Notification {
                title: "t".into(),
                content: "c".into(),
                payload: None,
                resources_id: None,
            },
            expires_at_ms: u64::MAX,
            attempt: 0,
            not_before_ms: 0,
            replays: 0,
            call: None,
            voip: false,
            accepted_us: 0,
            dry_run: false,
        }
    }

    fn settings(classification: u8) -> VivoSettings {
        serde_json::from_value(serde_json::json!({
            "app_id": 1, "app_key": "k", "app_secret": "s", "classification": classification
        }))
        .unwrap()
    }

    #[test]
    fn operational_messages_wait_for_the_beijing_window() {
        // 2026-01-01T15:00:00Z is 23:00 in Beijing: closed until 07:00, eight hours on.
        let eleven_pm = 1_767_279_600_000;
        assert_eq!(
            outside_operational_hours(&push(), &settings(0), eleven_pm),
            Some(Duration::from_secs(8 * 3600))
        );
        // 2026-01-01T23:30:00Z is 07:30 in Beijing: open.
        assert_eq!(
            outside_operational_hours(&push(), &settings(0), 1_767_310_200_000),
            None
        );
        // System messages (IM) have no window.
        assert_eq!(
            outside_operational_hours(&push(), &settings(1), eleven_pm),
            None
        );
    }

    #[test]
    fn request_id_is_stable_and_distinct() {
        let a = push();
        let mut b = push();
        b.message_id = "m2".into();
        assert_eq!(
            request_id(std::slice::from_ref(&a)),
            request_id(std::slice::from_ref(&a))
        );
        assert_ne!(request_id(&[a]), request_id(&[b]));
    }
}
