//! `POST /3/device/{token}`: provider token, headers, payload, Apple's reasons.

use super::{ApnsSim, VENDOR};
use crate::state::SimState;
use http::request::Parts;
use pushmesh_contract::now_ms;
use serde::Deserialize;
use serde_json::{json, Value};

const MAX_PAYLOAD: usize = 4096;
const MAX_VOIP_PAYLOAD: usize = 5120;
const PUSH_TYPES: [&str; 9] = [
    "alert",
    "background",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "location",
    "liveactivity",
    "pushtotalk",
];
/// Apple refuses a new provider token sooner than this after the last one.
const MIN_TOKEN_AGE_MS: u64 = 20 * 60 * 1000;

pub struct Reply {
    pub status: u16,
    pub apns_id: Option<String>,
    pub body: Option<Vec<u8>>,
}

fn refuse(status: u16, reason: &str) -> Reply {
    let mut body = json!({ "reason": reason });
    if status == 410 {
        body["timestamp"] = json!(now_ms());
    }
    Reply {
        status,
        apns_id: None,
        body: Some(body.to_string().into_bytes()),
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    iat: u64,
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn handle(parts: &Parts, data: &[u8], sim: &ApnsSim, state: &SimState) -> Reply {
    let now = now_ms();
    let token = parts
        .uri
        .path()
        .strip_prefix("/3/device/")
        .unwrap_or_default()
        .to_owned();
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("apns-"))
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or_default())))
        .collect();
    let payload: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
    let reply = state.with(VENDOR, |v| {
        let request = Request { parts, data, token: &token, payload: &payload };
        let reply = check(&request, sim, v, now);
        let accepted = if reply.status == 200 { vec![token.clone()] } else { vec![] };
        let record = json!({"headers": headers, "payload": payload, "http_version": format!("{:?}", parts.version)});
        v.record(now, reply.status, vec![token.clone()], accepted, record);
        reply
    });
    reply
}

/// One request as received.
struct Request<'a> {
    parts: &'a Parts,
    data: &'a [u8],
    token: &'a str,
    payload: &'a Value,
}

fn check(req: &Request, sim: &ApnsSim, v: &mut crate::state::VendorState, now: u64) -> Reply {
    let Request {
        parts,
        data,
        token,
        payload,
    } = *req;
    if parts.method != http::Method::POST {
        return refuse(405, "MethodNotAllowed");
    }
    // Provider token: ES256 by a known key, iss a known team, iat within the hour.
    let Some(jwt) = header(parts, "authorization").and_then(|a| a.strip_prefix("bearer ")) else {
        return refuse(403, "MissingProviderToken");
    };
    let Some(key) = &sim.public_key else {
        return refuse(403, "InvalidProviderToken");
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss"]);
    let (Ok(head), Ok(claims)) = (
        jsonwebtoken::decode_header(jwt),
        jsonwebtoken::decode::<Claims>(jwt, key, &validation).map(|d| d.claims),
    ) else {
        return refuse(403, "InvalidProviderToken");
    };
    let Some((key_id, topic)) = sim.accounts.get(&claims.iss) else {
        return refuse(403, "InvalidProviderToken");
    };
    if head.kid.as_deref() != Some(key_id.as_str()) || claims.iat * 1000 > now + 60_000 {
        return refuse(403, "InvalidProviderToken");
    }
    match v.access_tokens.get(jwt) {
        Some((expires, _)) if *expires <= now => return refuse(403, "ExpiredProviderToken"),
        Some(_) => {}
        None => {
            if claims.iat * 1000 + 3_600_000 <= now {
                return refuse(403, "ExpiredProviderToken");
            }
            v.access_tokens.insert(
                jwt.to_owned(),
                (claims.iat * 1000 + 3_600_000, claims.iss.clone()),
            );
            v.tokens_issued += 1;
        }
    }
    // A team that changes its token sooner than 20 minutes after the last change, while the
    // old one is still valid, is updating too often, whichever connection the new one is on.
    match v.provider_tokens.get(&claims.iss).cloned() {
        Some((previous, _)) if previous == jwt => {}
        Some((previous, since)) => {
            let previous_live = v
                .access_tokens
                .get(&previous)
                .is_some_and(|(exp, _)| *exp > now);
            if previous_live && now < since + MIN_TOKEN_AGE_MS {
                return refuse(429, "TooManyProviderTokenUpdates");
            }
            v.provider_tokens
                .insert(claims.iss.clone(), (jwt.to_owned(), now));
        }
        None => {
            v.provider_tokens
                .insert(claims.iss.clone(), (jwt.to_owned(), now));
        }
    }
    if let Some(f) = v.take_fault(now) {
        return match f.status {
            429 => refuse(429, "TooManyRequests"),
            500 => refuse(500, "InternalServerError"),
            _ => refuse(503, "ServiceUnavailable"),
        };
    }
    if let Err((status, reason)) = headers_and_payload(parts, data, token, payload, topic) {
        return refuse(status, reason);
    }
    if v.dead_tokens.contains(token) {
        return refuse(410, "Unregistered");
    }
    let id = header(parts, "apns-id")
        .map(String::from)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    Reply {
        status: 200,
        apns_id: Some(id),
        body: None,
    }
}

/// Apple's request rules: (status, reason).
fn headers_and_payload(
    parts: &Parts,
    data: &[u8],
    token: &str,
    payload: &Value,
    topic: &str,
) -> Result<(), (u16, &'static str)> {
    if token.is_empty() {
        return Err((400, "MissingDeviceToken"));
    }
    if token.len() < 64
        || !token.len().is_multiple_of(2)
        || !token.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err((400, "BadDeviceToken"));
    }
    let push_type = header(parts, "apns-push-type").unwrap_or("alert");
    if !PUSH_TYPES.contains(&push_type) {
        return Err((400, "InvalidPushType"));
    }
    // A VoIP push goes to the app's `.voip` topic (its PushKit certificate's), not the bundle's.
    let voip = push_type == "voip";
    match header(parts, "apns-topic") {
        None => return Err((400, "MissingTopic")),
        Some(t) if voip && t.strip_suffix(".voip") != Some(topic) => {
            return Err((400, "TopicDisallowed"))
        }
        // A topic of the team's other apps (the same organization prefix) is allowed, but
        // this app's device tokens are not that app's: every one of them "not for topic".
        Some(t) if !voip && t != topic && same_team(t, topic) => {
            return Err((400, "DeviceTokenNotForTopic"))
        }
        Some(t) if !voip && t != topic => return Err((400, "TopicDisallowed")),
        Some(_) => {}
    }
    match header(parts, "apns-priority") {
        None | Some("10") if push_type == "background" => return Err((400, "BadPriority")),
        None | Some("5" | "10") => {}
        Some(_) => return Err((400, "BadPriority")),
    }
    if header(parts, "apns-expiration").is_some_and(|e| e.parse::<u64>().is_err()) {
        return Err((400, "BadExpirationDate"));
    }
    if header(parts, "apns-collapse-id").is_some_and(|c| c.len() > 64) {
        return Err((400, "BadCollapseId"));
    }
    if header(parts, "apns-id").is_some_and(|id| uuid::Uuid::parse_str(id).is_err()) {
        return Err((400, "BadMessageId"));
    }
    if data.is_empty() || !payload["aps"].is_object() {
        return Err((400, "PayloadEmpty"));
    }
    if data.len() > if voip { MAX_VOIP_PAYLOAD } else { MAX_PAYLOAD } {
        return Err((413, "PayloadTooLarge"));
    }
    if push_type == "alert" && payload["aps"].get("alert").is_none() {
        return Err((400, "InvalidPushType"));
    }
    Ok(())
}

/// Whether two bundle ids are one organization's (`com.example.im`, `com.example.other`).
fn same_team(a: &str, b: &str) -> bool {
    let org = |t: &str| t.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    org(a) == org(b)
}
