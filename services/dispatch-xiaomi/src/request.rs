//! The form of `POST /v3/message/regid` for pushes of one message to up to 1000 regids.

use crate::settings::XiaomiSettings;
use pushmesh_contract::public::CallEvent;
use pushmesh_contract::stage::DevicePush;
use pushmesh_dispatch::support::{call_data, call_notify_id, check_chars, is_invite, ttl_s};

/// Xiaomi: title fewer than 50 characters, description fewer than 128, extras ≤ 1024.
pub const MAX_TITLE: usize = 49;
pub const MAX_DESCRIPTION: usize = 127;
pub const MAX_EXTRA: usize = 1024;
/// Private messages (IM) may live 10 days.
const MAX_TTL_S: u64 = 10 * 86_400;

pub fn form(
    pushes: &[DevicePush],
    s: &XiaomiSettings,
    now_ms: u64,
) -> Result<Vec<(String, String)>, String> {
    let first = &pushes[0];
    let n = &first.notification;
    check_chars("Xiaomi", "title", &n.title, MAX_TITLE)?;
    check_chars("Xiaomi", "content", &n.content, MAX_DESCRIPTION)?;
    let r = n
        .resources_id
        .as_ref()
        .and_then(|id| s.resources.get(id))
        .cloned()
        .unwrap_or_default();
    let call = is_invite(first).then_some(&s.call);
    let withdrawal = first.call_event() == Some(CallEvent::Cancel);
    let notify_type = r.notify_type.or(call.map(|c| c.notify_type));
    let call_channel = call.and_then(|c| c.channel_id.clone());
    let channel_id = r
        .channel_id
        .or(call_channel)
        .unwrap_or_else(|| s.channel_id.clone());
    let regids: Vec<&str> = pushes.iter().map(|p| p.token.as_str()).collect();
    let mut form = vec![
        ("registration_id".to_owned(), regids.join(",")),
        ("restricted_package_name".to_owned(), s.package.clone()),
        ("title".to_owned(), n.title.clone()),
        ("description".to_owned(), n.content.clone()),
        // A call's withdrawal passes through to the app, which stops ringing.
        (
            "pass_through".to_owned(),
            if withdrawal { "1" } else { "0" }.to_owned(),
        ),
        (
            "notify_type".to_owned(),
            notify_type.unwrap_or(s.notify_type).to_string(),
        ),
        (
            "time_to_live".to_owned(),
            (ttl_s(first, now_ms, 1, MAX_TTL_S) * 1000).to_string(),
        ),
        ("extra.channel_id".to_owned(), channel_id),
        // Custom notification styles were switched off in 2024: always say what a tap does.
        ("extra.notify_effect".to_owned(), "1".to_owned()),
    ];
    if let Some(call) = &first.call {
        // Every push of a call shows in one place: the missed call replaces the ringing.
        form.push((
            "notify_id".to_owned(),
            call_notify_id(&call.call_id).to_string(),
        ));
    }
    for (key, value) in call_data(first).into_iter().flatten() {
        form.push((format!("extra.{key}"), value));
    }
    if let Some(payload) = &n.payload {
        check_chars("Xiaomi", "payload (extra.payload)", payload, MAX_EXTRA)?;
        // Both places: `payload` reaches MiPushMessage.getContent(), `extra.payload` getExtra().
        form.push(("payload".to_owned(), payload.clone()));
        form.push(("extra.payload".to_owned(), payload.clone()));
    }
    Ok(form)
}
