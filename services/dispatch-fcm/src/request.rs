//! The FCM HTTP v1 request body for one push.
//!
//! Typed and borrowed from the push and the settings, not built as a `serde_json::Value`: FCM
//! takes one token per request, so this runs once per push, where a map's allocations show.

use crate::settings::{FcmCall, FcmResource, FcmSettings};
use pushmesh_contract::public::CallEvent;
use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::support::is_invite;
use serde::Serialize;

/// `{"message": {...}}` for `POST /v1/projects/{project}/messages:send`.
#[derive(Debug, Serialize)]
pub struct Body<'a> {
    message: Message<'a>,
}

#[derive(Debug, Serialize)]
struct Message<'a> {
    token: &'a str,
    /// None for a call's withdrawal: a data message the app reads to stop ringing.
    #[serde(skip_serializing_if = "Option::is_none")]
    notification: Option<Notice<'a>>,
    /// data values must be strings; the app reads getData().get("payload").
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Data<'a>>,
    android: Android<'a>,
}

#[derive(Debug, Serialize)]
struct Notice<'a> {
    title: &'a str,
    body: &'a str,
}

/// `payload`, and a call's `call_id` and `call_event`.
#[derive(Debug, Serialize)]
struct Data<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    call_event: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct Android<'a> {
    priority: &'a str,
    ttl: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    collapse_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    restricted_package_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification: Option<AndroidNotification<'a>>,
}

#[derive(Debug, Default, Serialize)]
struct AndroidNotification<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    channel_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sound: Option<&'a str>,
    /// A call's pushes share a tag: the missed call replaces the ringing notification.
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification_priority: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    visibility: Option<&'static str>,
}

/// The body for `push`; `now_ms` sets the TTL.
pub fn body<'a>(push: &'a DevicePush, settings: &'a FcmSettings, now_ms: u64) -> Body<'a> {
    let n = &push.notification;
    let resource = n
        .resources_id
        .as_ref()
        .and_then(|r| settings.resources.get(r));
    // TTL: what is left of the push's life, so a late retry does not outlive its message.
    let ttl_s = push
        .expires_at_ms
        .saturating_sub(now_ms)
        .div_ceil(1000)
        .min(2_419_200);
    let call = is_invite(push).then_some(&settings.call);
    let withdrawal = push.call_event() == Some(CallEvent::Cancel);
    let priority = resource.and_then(|r| r.priority.as_deref());
    let priority = priority.or(call.map(|c| c.priority.as_str()));
    let android = Android {
        // A withdrawal must wake a ringing phone's app as the invitation did.
        priority: if withdrawal {
            "HIGH"
        } else {
            priority.unwrap_or(&settings.priority)
        },
        ttl: format!("{ttl_s}s"),
        collapse_key: resource.and_then(|r| r.collapse_key.as_deref()),
        restricted_package_name: push.package.as_deref(),
        notification: (!withdrawal)
            .then(|| android_notification(push, resource, call))
            .flatten(),
    };
    let call_ref = push.call.as_ref();
    let data = Data {
        payload: n.payload.as_deref(),
        call_id: call_ref.map(|c| c.call_id.as_str()),
        call_event: call_ref.map(|c| c.event.as_str()),
    };
    let has_data = data.payload.is_some() || data.call_id.is_some();
    Body {
        message: Message {
            token: &push.token,
            notification: (!withdrawal).then_some(Notice {
                title: &n.title,
                body: &n.content,
            }),
            data: has_data.then_some(data),
            android,
        },
    }
}

/// The Android notification's own settings: the resource's channel and sound; for a call, its
/// channel, the highest priority, shown on the lock screen, tagged with the call.
fn android_notification<'a>(
    push: &'a DevicePush,
    r: Option<&'a FcmResource>,
    call: Option<&'a FcmCall>,
) -> Option<AndroidNotification<'a>> {
    let call_channel = call.and_then(|c| c.channel_id.as_deref());
    let n = AndroidNotification {
        channel_id: r.and_then(|r| r.channel_id.as_deref()).or(call_channel),
        sound: r.and_then(|r| r.sound.as_deref()),
        tag: push.call.as_ref().map(|c| c.call_id.as_str()),
        notification_priority: call.map(|_| "PRIORITY_MAX"),
        visibility: call.map(|_| "PUBLIC"),
    };
    let any = n.channel_id.is_some() || n.sound.is_some() || n.tag.is_some();
    any.then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushmesh_contract::stage::Notification;
    use pushmesh_contract::Vendor;
    use serde_json::{json, Value};

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
            call: None,
            voip: false,
            accepted_us: 0,
            dry_run: false,
        }
    }

    /// The JSON the client sends.
    fn sent(push: &DevicePush, settings: &FcmSettings) -> Value {
        serde_json::to_value(body(push, settings, 1_000)).unwrap()
    }

    #[test]
    fn shape_follows_fcm_v1() {
        let b = sent(&push(Some("chat")), &settings());
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
        let b = sent(&p, &settings());
        assert!(b["message"].get("data").is_none());
        let android = &b["message"]["android"];
        assert_eq!(android["priority"], "HIGH");
        assert!(android.get("notification").is_none());
        assert!(android.get("collapse_key").is_none());
        // Absent fields are left out, not sent as null.
        assert!(!b.to_string().contains("null"), "{b}");
    }

    #[test]
    fn a_resource_priority_overrides_the_app_default() {
        let mut s = settings();
        s.resources.insert(
            "call".into(),
            FcmResource {
                priority: Some("NORMAL".into()),
                ..Default::default()
            },
        );
        let b = sent(&push(Some("call")), &s);
        assert_eq!(b["message"]["android"]["priority"], "NORMAL");
        assert!(b["message"]["android"].get("notification").is_none());
    }
}
