//! `/message/send`, `/message/saveListPayload`, `/message/pushToList`.

use super::{reply, VENDOR};
use crate::state::{SimState, VendorState};
use actix_web::{web, HttpRequest, HttpResponse};
use pushmesh_contract::now_ms;
use serde_json::{json, Value};

const SYSTEM: [&str; 6] = [
    "IM",
    "ACCOUNT",
    "TODO",
    "DEVICE_REMINDER",
    "ORDER",
    "SUBSCRIPTION",
];
const OPERATIONAL: [&str; 4] = ["NEWS", "CONTENT", "MARKETING", "SOCIAL"];

/// Latency, auth, faults. Ok: the app id the token belongs to; Err: the answer to give (the
/// refused request is recorded with `body`).
async fn admit(
    state: &SimState,
    req: &HttpRequest,
    now: u64,
    body: &Value,
) -> Result<String, Box<HttpResponse>> {
    let latency = state.with(VENDOR, |v| v.latency_ms);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let token = req
        .headers()
        .get("authToken")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.with(VENDOR, |v| {
        let Some(app) = v.token_owner(&token, now).map(String::from) else {
            v.record(now, 200, vec![], vec![], body.clone());
            return Err(Box::new(reply(
                10000,
                "authToken is invalid or expired",
                json!({}),
            )));
        };
        let fault = v.take_fault(now).map(|f| f.status);
        if let Some(status) = fault {
            v.record(now, status, vec![], vec![], body.clone());
        }
        match fault {
            Some(429) => Err(Box::new(reply(
                10070,
                "total send volume exceeded",
                json!({}),
            ))),
            Some(status) => Err(Box::new(
                HttpResponse::build(
                    actix_web::http::StatusCode::from_u16(status)
                        .unwrap_or(actix_web::http::StatusCode::SERVICE_UNAVAILABLE),
                )
                .body("Internet server error!"),
            )),
            None => Ok(app),
        }
    })
}

/// vivo's rules for a message body: (result, desc).
fn validate(m: &Value, app: &str) -> Result<(), (i64, String)> {
    if m["appId"].as_u64().map(|a| a.to_string()).as_deref() != Some(app) {
        return Err((10094, "appId does not match the authToken".into()));
    }
    let title = m["title"].as_str().unwrap_or_default();
    if title.is_empty() {
        return Err((10055, "title is empty".into()));
    }
    if title.chars().count() > 40 {
        return Err((10056, "title is longer than 40 characters".into()));
    }
    let content = m["content"].as_str().unwrap_or_default();
    if content.is_empty() || content.chars().count() > 100 {
        return Err((10057, "content must be 1 to 100 characters".into()));
    }
    if !matches!(m["notifyType"].as_u64(), Some(1..=4)) {
        return Err((10054, "notifyType must be 1 to 4".into()));
    }
    if !matches!(m["timeToLive"].as_u64(), Some(60..=604_800)) {
        return Err((10058, "timeToLive must be 60 to 604800 seconds".into()));
    }
    if !matches!(m["skipType"].as_u64(), Some(1..=4)) {
        return Err((10059, "skipType must be 1 to 4".into()));
    }
    let classification = m["classification"].as_u64().unwrap_or(0);
    if let Some(category) = m.get("category") {
        let c = category.as_str().unwrap_or_default();
        let system = SYSTEM.contains(&c);
        if !system && !OPERATIONAL.contains(&c) {
            return Err((10096, format!("category `{c}` is not valid")));
        }
        if system != (classification == 1) {
            return Err((10097, "category does not match classification".into()));
        }
    }
    if let Some(map) = m.get("clientCustomMap") {
        if !map.is_object() || map.to_string().chars().count() > 1024 {
            return Err((
                10089,
                "clientCustomMap must be an object of at most 1024 characters".into(),
            ));
        }
    }
    if !m["requestId"]
        .as_str()
        .is_some_and(|r| !r.is_empty() && r.len() <= 64)
    {
        return Err((10080, "requestId is required, at most 64 characters".into()));
    }
    Ok(())
}

fn task_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Delivers to `regs` unless this requestId was seen: returns (accepted, invalidUsers).
fn deliver(v: &mut VendorState, request_id: &str, regs: &[String]) -> (Vec<String>, Vec<Value>) {
    let invalid: Vec<Value> = regs
        .iter()
        .filter(|r| v.dead_tokens.contains(*r))
        .map(|r| json!({"userid": r, "status": 2}))
        .collect();
    if !v.request_ids.insert(request_id.to_owned()) {
        return (vec![], invalid); // a repeat: vivo answers, the phone gets nothing twice
    }
    let accepted = regs
        .iter()
        .filter(|r| !v.dead_tokens.contains(*r))
        .cloned()
        .collect();
    (accepted, invalid)
}

pub async fn send(
    state: web::Data<SimState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let now = now_ms();
    let m = body.into_inner();
    let app = match admit(&state, &req, now, &m).await {
        Ok(app) => app,
        Err(resp) => return *resp,
    };
    state.with(VENDOR, |v| {
        let reg = m["regId"].as_str().unwrap_or_default().to_owned();
        if reg.is_empty() {
            return reply(10050, "regId and alias are both empty", json!({}));
        }
        if let Err((code, desc)) = validate(&m, &app) {
            v.record(now, 200, vec![reg], vec![], m);
            return reply(code, &desc, json!({}));
        }
        let (accepted, invalid) = deliver(
            v,
            m["requestId"].as_str().unwrap_or_default(),
            std::slice::from_ref(&reg),
        );
        v.record(now, 200, vec![reg], accepted, m);
        let mut extra = json!({"taskId": task_id()});
        if let Some(user) = invalid.first() {
            extra["invalidUser"] = user.clone();
        }
        reply(0, "请求成功", extra)
    })
}

pub async fn save_list_payload(
    state: web::Data<SimState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let now = now_ms();
    let m = body.into_inner();
    let app = match admit(&state, &req, now, &m).await {
        Ok(app) => app,
        Err(resp) => return *resp,
    };
    if let Err((code, desc)) = validate(&m, &app) {
        return reply(code, &desc, json!({}));
    }
    let task = task_id();
    state.with(VENDOR, |v| v.stored.insert(task.clone(), m));
    reply(0, "请求成功", json!({"taskId": task}))
}

pub async fn push_to_list(
    state: web::Data<SimState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let now = now_ms();
    let b = body.into_inner();
    if let Err(resp) = admit(&state, &req, now, &b).await {
        return *resp;
    }
    let regs: Vec<String> = b["regIds"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if !(2..=1000).contains(&regs.len()) {
        return reply(10061, "regIds must hold 2 to 1000 ids", json!({}));
    }
    let task = b["taskId"].as_str().unwrap_or_default();
    state.with(VENDOR, |v| {
        let Some(message) = v.stored.get(task).cloned() else {
            return reply(10063, "taskId does not exist", json!({}));
        };
        let (accepted, invalid) = deliver(v, b["requestId"].as_str().unwrap_or_default(), &regs);
        v.record(now, 200, regs, accepted, message);
        reply(
            0,
            "请求成功",
            json!({"taskId": task, "invalidUsers": invalid}),
        )
    })
}
