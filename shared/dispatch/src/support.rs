//! Small rules several vendor modules share.

use crate::Attempt;
use pushmesh_contract::stage::DevicePush;
use pushmesh_runtime::{Settings, SettingsError};
use std::time::Duration;

/// The pooled HTTP client every vendor client of a dispatcher shares: keep-alive connections
/// (HTTP/2 where the vendor negotiates it), a timeout per request.
pub fn http_client(settings: &Settings, http2_only: bool) -> Result<reqwest::Client, String> {
    let d = &settings.dispatch;
    let timeout = Duration::from_millis(d.request_timeout_ms);
    let ca = match &d.ca_file {
        Some(path) => Some(pushmesh_runtime::tls::read_ca(path)?),
        None => None,
    };
    http_client_with(timeout, d.concurrency, http2_only, ca.as_deref())
}

/// `http2_only` (APNs): every request is a stream on long-lived HTTP/2 connections, pinged to
/// stay open; over https, HTTP/2 is offered in ALPN alone, as APNs requires. `ca`: PEM
/// certificates trusted besides the public roots.
pub fn http_client_with(
    timeout: Duration,
    pool: usize,
    http2_only: bool,
    ca: Option<&str>,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(pool);
    if let Some(pem) = ca {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| format!("dispatch.ca_file: {e}"))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    let builder = match http2_only {
        true => builder
            .http2_prior_knowledge()
            .http2_keep_alive_interval(Duration::from_secs(60))
            .pool_idle_timeout(None),
        false => builder.pool_idle_timeout(Duration::from_secs(90)),
    };
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A vendor's answer read whole: its status and body; or, when there is none (no connection, a
/// timeout), a retry that says why. `vendor` names it in the detail.
pub async fn read_answer(
    vendor: &str,
    sent: reqwest::Result<reqwest::Response>,
) -> Result<(u16, bytes::Bytes), Attempt> {
    let resp = sent.map_err(|e| Attempt::retry(format!("{vendor} unreachable: {}", causes(&e))))?;
    let status = resp.status().as_u16();
    Ok((status, resp.bytes().await.unwrap_or_default()))
}

/// An error and its causes, which say what failed (a refused connection, a certificate that
/// does not verify), in one line.
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text = format!("{text}: {line}");
        }
        source = cause.source();
    }
    text
}

/// Every `*_url` key of a vendor's table (`key`, e.g. `apps.demo.huawei`) must be an http:// or
/// https:// URL with a host. Checked at start because a bad one would fail each request as if
/// the vendor were unreachable, and its pushes would go round the retry tiers until they expire.
pub fn check_urls(key: &str, table: &serde_json::Value) -> Result<(), SettingsError> {
    let Some(map) = table.as_object() else {
        return Ok(());
    };
    for (name, value) in map.iter().filter(|(name, _)| name.ends_with("_url")) {
        // Not a string (or null for "the default"): the vendor's own parse names the type.
        let Some(text) = value.as_str() else {
            continue;
        };
        let why = match reqwest::Url::parse(text) {
            Err(e) => e.to_string(),
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                format!("the scheme is `{}`", url.scheme())
            }
            Ok(url) if url.host_str().is_none_or(str::is_empty) => "there is no host".into(),
            Ok(_) => continue,
        };
        return Err(SettingsError::invalid(
            format!("{key}.{name}"),
            format!("must be an http:// or https:// URL with a host, not `{text}` ({why})"),
        ));
    }
    Ok(())
}

/// Refuses a text longer than a vendor allows, counting characters (not bytes), with a detail
/// that names the field. pushmesh never truncates: a cut could break a word or a UTF-8 sequence.
pub fn check_chars(vendor: &str, field: &str, value: &str, max: usize) -> Result<(), String> {
    let n = value.chars().count();
    if n > max {
        return Err(format!(
            "{field} is {n} characters, {vendor} allows at most {max}"
        ));
    }
    Ok(())
}

/// How long until the next midnight in China (UTC+8), when Xiaomi, OPPO and vivo reset daily
/// quotas. Pushes refused for quota wait this long rather than fail.
pub fn until_next_china_day(now_ms: u64) -> Duration {
    const DAY_MS: u64 = 86_400_000;
    const UTC8_MS: u64 = 8 * 3_600_000;
    let into_day = (now_ms + UTC8_MS) % DAY_MS;
    Duration::from_millis(DAY_MS - into_day)
}

/// Seconds of life a push has left, at least `min` (some vendors refuse shorter TTLs).
pub fn ttl_s(push: &DevicePush, now_ms: u64, min: u64, max: u64) -> u64 {
    push.expires_at_ms
        .saturating_sub(now_ms)
        .div_ceil(1000)
        .clamp(min, max)
}

/// A call's id as the notification id of vendors that take a number: every push of one call
/// carries the same, so its "missed call" notification replaces the ringing one on the phone.
pub fn call_notify_id(call_id: &str) -> u32 {
    let digest = pushmesh_runtime::recent::key(&[call_id.as_bytes()]);
    (u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) & 0x7fff_ffff).max(1)
}

/// What a call's push adds where the app reads its data, beside `payload`: `call_id` and
/// `call_event` (invite, cancel or missed). None for a message's push.
pub fn call_data(push: &DevicePush) -> Option<[(&'static str, String); 2]> {
    let call = push.call.as_ref()?;
    Some([
        ("call_id", call.call_id.clone()),
        ("call_event", call.event.as_str().to_owned()),
    ])
}

/// Whether this push rings: a call's invitation.
pub fn is_invite(push: &DevicePush) -> bool {
    push.call_event() == Some(pushmesh_contract::public::CallEvent::Invite)
}

/// Lower-case hex, as vendors' signature schemes want it.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_day_boundary() {
        // 2026-01-01T15:59:59Z is 23:59:59 in Beijing: one second to go.
        let t = 1_767_283_199_000;
        assert_eq!(until_next_china_day(t), Duration::from_secs(1));
        assert_eq!(until_next_china_day(t + 1_000), Duration::from_secs(86_400));
    }

    #[test]
    fn vendor_urls_are_checked_naming_the_key() {
        let table = |url: &str| serde_json::json!({"app_id": "a", "auth_url": url});
        let key = "apps.demo.huawei";
        for good in [
            "https://push-api.cloud.huawei.com",
            "http://127.0.0.1:9/huawei",
        ] {
            assert!(check_urls(key, &table(good)).is_ok(), "{good}");
        }
        for bad in [
            "push-api.cloud.huawei.com",
            "ftp://host/x",
            "http://",
            "https://exa mple",
        ] {
            let err = check_urls(key, &table(bad)).unwrap_err().to_string();
            assert!(err.contains("apps.demo.huawei.auth_url"), "{err}");
            assert!(err.contains(&format!("not `{bad}`")), "{err}");
        }
        let absent = serde_json::json!({"app_id": "a", "token_url": null});
        assert!(check_urls(key, &absent).is_ok());
    }

    #[test]
    fn chars_not_bytes() {
        assert!(check_chars("vivo", "title", "日本語のタイトル", 8).is_ok());
        let err = check_chars("vivo", "title", "日本語のタイトルです", 8).unwrap_err();
        assert_eq!(err, "title is 10 characters, vivo allows at most 8");
    }
}
