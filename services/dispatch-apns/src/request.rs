//! The APNs request for one push: headers and the JSON payload.

use crate::settings::ApnsSettings;
use md5::{Digest, Md5};
use pushmesh_contract::public::CallEvent;
use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::support::{call_data, hex};
use serde_json::{json, Value};

/// APNs' limit for a regular notification, and for a VoIP one.
pub const MAX_PAYLOAD: usize = 4096;
pub const MAX_VOIP_PAYLOAD: usize = 5120;

pub struct Request {
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// `apns-id`, derived from (message_id, push_id): a resent push carries the same id.
pub fn apns_id(push: &DevicePush) -> String {
    let event = push.call_event().map_or("", |e| e.as_str());
    let h = hex(&Md5::digest(format!(
        "{}\0{}\0{event}",
        push.message_id, push.push_id
    )));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub fn build(push: &DevicePush, s: &ApnsSettings) -> Result<Request, String> {
    if push.voip {
        return voip(push, s);
    }
    if push.call_event() == Some(CallEvent::Cancel) {
        return background(push, s);
    }
    let n = &push.notification;
    let r = n
        .resources_id
        .as_ref()
        .and_then(|id| s.resources.get(id))
        .cloned()
        .unwrap_or_default();
    let mut aps = json!({"alert": {"title": n.title, "body": n.content}});
    if let Some(sound) = r.sound.as_ref().or(s.sound.as_ref()) {
        aps["sound"] = json!(sound);
    }
    if let Some(badge) = r.badge {
        aps["badge"] = json!(badge);
    }
    if let Some(category) = &r.category {
        aps["category"] = json!(category);
    }
    if let Some(thread) = &r.thread_id {
        aps["thread-id"] = json!(thread);
    }
    let payload = with_data(json!({ "aps": aps }), push);
    let body = sized(payload, MAX_PAYLOAD)?;
    let mut headers = vec![
        ("apns-topic", s.topic.clone()),
        ("apns-push-type", "alert".to_owned()),
        ("apns-priority", "10".to_owned()),
        // An absolute time: APNs stores the push for an offline device until then.
        ("apns-expiration", (push.expires_at_ms / 1000).to_string()),
        ("apns-id", apns_id(push)),
    ];
    // A call's alerts share a collapse id: the missed call replaces the ringing one.
    let call_collapse = push.call.as_ref().map(|c| c.call_id.clone());
    if let Some(c) = r.collapse_id.or(call_collapse) {
        headers.push(("apns-collapse-id", c));
    }
    Ok(Request {
        path: format!("/3/device/{}", push.token),
        headers,
        body,
    })
}

/// A call's invitation to the device's PushKit token: push type `voip` on the `.voip` topic,
/// priority 10, stored no longer than the call rings. The app reports it to CallKit from the
/// keys beside `aps`.
fn voip(push: &DevicePush, s: &ApnsSettings) -> Result<Request, String> {
    let n = &push.notification;
    let payload = json!({"aps": {}, "title": n.title, "content": n.content});
    let body = sized(with_data(payload, push), MAX_VOIP_PAYLOAD)?;
    let headers = vec![
        ("apns-topic", format!("{}.voip", s.topic)),
        ("apns-push-type", "voip".to_owned()),
        ("apns-priority", "10".to_owned()),
        ("apns-expiration", (push.expires_at_ms / 1000).to_string()),
        ("apns-id", apns_id(push)),
    ];
    Ok(Request {
        path: format!("/3/device/{}", push.token),
        headers,
        body,
    })
}

/// A call's withdrawal to an alert token: a background push the app wakes for, to take the
/// ringing notification away (iOS allows only incoming calls on PushKit).
fn background(push: &DevicePush, s: &ApnsSettings) -> Result<Request, String> {
    let payload = json!({"aps": {"content-available": 1}});
    let body = sized(with_data(payload, push), MAX_PAYLOAD)?;
    let headers = vec![
        ("apns-topic", s.topic.clone()),
        ("apns-push-type", "background".to_owned()),
        // Background pushes must go at priority 5.
        ("apns-priority", "5".to_owned()),
        ("apns-expiration", (push.expires_at_ms / 1000).to_string()),
        ("apns-id", apns_id(push)),
    ];
    Ok(Request {
        path: format!("/3/device/{}", push.token),
        headers,
        body,
    })
}

/// `payload` beside `aps`, where the app's delegate reads userInfo["payload"]; a call's
/// `call_id` and `call_event` with it.
fn with_data(mut payload: Value, push: &DevicePush) -> Value {
    if let Some(p) = &push.notification.payload {
        payload["payload"] = Value::String(p.clone());
    }
    for (key, value) in call_data(push).into_iter().flatten() {
        payload[key] = Value::String(value);
    }
    payload
}

fn sized(payload: Value, max: usize) -> Result<Vec<u8>, String> {
    let body = payload.to_string().into_bytes();
    if body.len() > max {
        return Err(format!(
            "the payload is {} bytes, APNs allows {max}",
            body.len()
        ));
    }
    Ok(body)
}
