//! `/sim/...`: what tests and operators use to steer vendor-sim and read what it received.

use crate::state::{Fault, SimState};
use actix_web::{web, HttpResponse};
use pushmesh_contract::now_ms;
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/sim/{vendor}")
            .route("/messages", web::get().to(messages))
            .route("/requests", web::get().to(requests))
            .route("/dead-tokens", web::post().to(dead_tokens))
            .route("/fault", web::post().to(fault))
            .route("/fault", web::delete().to(clear_fault))
            .route(
                "/expire-access-tokens",
                web::post().to(expire_access_tokens),
            )
            .route("/latency", web::post().to(latency))
            .route("/compact", web::post().to(compact))
            .route("/count", web::get().to(count)),
    );
}

/// Requests that delivered to at least one token, oldest first, how many access tokens were
/// issued, and how many requests are being held by `latency` right now.
async fn messages(state: web::Data<SimState>, vendor: web::Path<String>) -> HttpResponse {
    state.with(&vendor, |v| {
        let accepted: Vec<_> = v
            .requests
            .iter()
            .filter(|r| !r.accepted.is_empty())
            .collect();
        HttpResponse::Ok().json(serde_json::json!({
            "messages": accepted,
            "tokens_issued": v.tokens_issued,
            "connections": v.connections,
            "held": v.held,
        }))
    })
}

/// Every send request, whatever it was answered.
async fn requests(state: web::Data<SimState>, vendor: web::Path<String>) -> HttpResponse {
    state.with(&vendor, |v| {
        HttpResponse::Ok().json(serde_json::json!({ "requests": v.requests }))
    })
}

#[derive(Deserialize)]
struct Tokens {
    tokens: Vec<String>,
}

async fn dead_tokens(
    state: web::Data<SimState>,
    vendor: web::Path<String>,
    body: web::Json<Tokens>,
) -> HttpResponse {
    state.with(&vendor, |v| v.dead_tokens.extend(body.into_inner().tokens));
    HttpResponse::NoContent().finish()
}

async fn fault(
    state: web::Data<SimState>,
    vendor: web::Path<String>,
    body: web::Json<Fault>,
) -> HttpResponse {
    let mut f = body.into_inner();
    if f.count.is_none() && f.for_ms.is_none() {
        return HttpResponse::BadRequest().json(serde_json::json!({
            "error": {"code": "invalid_request", "message": "fault: give `count` or `for_ms`"}
        }));
    }
    f.until_ms = f.for_ms.map(|ms| now_ms() + ms);
    state.with(&vendor, |v| v.fault = Some(f));
    HttpResponse::NoContent().finish()
}

async fn clear_fault(state: web::Data<SimState>, vendor: web::Path<String>) -> HttpResponse {
    state.with(&vendor, |v| v.fault = None);
    HttpResponse::NoContent().finish()
}

/// Makes every access token issued so far expired, as if an hour had passed.
async fn expire_access_tokens(
    state: web::Data<SimState>,
    vendor: web::Path<String>,
) -> HttpResponse {
    state.with(&vendor, |v| {
        v.access_tokens.values_mut().for_each(|(exp, _)| *exp = 0)
    });
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct Latency {
    ms: u64,
    /// FCM only: slow just the requests to these tokens.
    #[serde(default)]
    tokens: Vec<String>,
}

/// Every send answer from now on waits this long first (or, for FCM, those to `tokens`).
async fn latency(
    state: web::Data<SimState>,
    vendor: web::Path<String>,
    body: web::Json<Latency>,
) -> HttpResponse {
    let Latency { ms, tokens } = body.into_inner();
    state.with(&vendor, |v| {
        v.latency_ms = ms;
        v.latency_tokens = tokens.into_iter().collect();
    });
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct Compact {
    on: bool,
}

/// Benchmarks: record requests without their bodies (time, tokens and payload only).
async fn compact(
    state: web::Data<SimState>,
    vendor: web::Path<String>,
    body: web::Json<Compact>,
) -> HttpResponse {
    state.with(&vendor, |v| v.compact = body.on);
    HttpResponse::NoContent().finish()
}

/// How many requests arrived and how many device pushes were accepted: cheap to poll.
async fn count(state: web::Data<SimState>, vendor: web::Path<String>) -> HttpResponse {
    state.with(&vendor, |v| {
        let accepted: usize = v.requests.iter().map(|r| r.accepted.len()).sum();
        HttpResponse::Ok()
            .json(serde_json::json!({"requests": v.requests.len(), "accepted": accepted}))
    })
}
