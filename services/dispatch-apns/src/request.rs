//! The APNs request for one push: headers and the JSON payload.

use crate::settings::ApnsSettings;
use md5::{Digest, Md5};
use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::support::hex;
use serde_json::{json, Value};

/// APNs' limit for a regular (non-VoIP) notification.
pub const MAX_PAYLOAD: usize = 4096;

pub struct Request {
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// `apns-id`, derived from (message_id, push_id): a resent push carries the same id.
pub fn apns_id(push: &DevicePush) -> String {
    let h = hex(&Md5::digest(format!(
        "{}\0{}",
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
    let mut payload = json!({ "aps": aps });
    if let Some(p) = &n.payload {
        // Beside `aps`, where the app's delegate reads userInfo["payload"].
        payload["payload"] = Value::String(p.clone());
    }
    let body = payload.to_string().into_bytes();
    if body.len() > MAX_PAYLOAD {
        return Err(format!(
            "the payload is {} bytes, APNs allows {MAX_PAYLOAD}",
            body.len()
        ));
    }
    let mut headers = vec![
        ("apns-topic", s.topic.clone()),
        ("apns-push-type", "alert".to_owned()),
        ("apns-priority", "10".to_owned()),
        // An absolute time: APNs stores the push for an offline device until then.
        ("apns-expiration", (push.expires_at_ms / 1000).to_string()),
        ("apns-id", apns_id(push)),
    ];
    if let Some(c) = r.collapse_id {
        headers.push(("apns-collapse-id", c));
    }
    Ok(Request {
        path: format!("/3/device/{}", push.token),
        headers,
        body,
    })
}
