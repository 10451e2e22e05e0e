//! What the trace store answers, for the app's server key only: a message's trace
//! (`/messages/{message_id}/trace`, `/calls/{call_id}/trace`), a user's recent messages with
//! what became of them (`/users/{user_id}/messages`), and the app's recent rejected inputs
//! (`/rejected`).

use super::TraceStore;
use crate::api::{ApiError, ApiState};
use actix_web::{web, HttpRequest, HttpResponse};
use pushmesh_contract::trace::{TraceEvent, TraceWhat};
use pushmesh_runtime::recent::RecentError;
use serde::Deserialize;

pub fn routes(scope: actix_web::Scope) -> actix_web::Scope {
    scope
        .route("/messages/{message_id}/trace", web::get().to(trace))
        .route("/calls/{call_id}/trace", web::get().to(trace))
        .route("/users/{user_id}/messages", web::get().to(user_messages))
        .route("/rejected", web::get().to(rejected))
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<usize>,
}

impl Limit {
    fn get(&self) -> usize {
        self.limit.unwrap_or(20).clamp(1, 200)
    }
}

/// Runs a store read off the HTTP thread.
async fn read<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RecentError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

async fn trace(
    req: HttpRequest,
    state: web::Data<ApiState>,
    store: web::Data<TraceStore>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, message_id) = path.into_inner();
    state.server_only(&req, &app_id, "traces")?;
    let (app, id) = (app_id.clone(), message_id.clone());
    let events = read(move || store.message(&app, &id)).await?;
    if events.is_empty() {
        return Err(ApiError::TraceNotFound(message_id));
    }
    let events: Vec<serde_json::Value> = events.iter().map(|e| e.to_json()).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "app_id": app_id,
        "message_id": message_id,
        "events": events,
    })))
}

/// What became of a message for one user, as its trace says: `online`, `no_device`, each
/// device's outcome, or `pending` while nothing is final.
fn results_for(user: &str, events: &[TraceEvent]) -> Vec<serde_json::Value> {
    let mine = events.iter().filter(|e| e.user_id.as_deref() == Some(user));
    let mut results: Vec<serde_json::Value> = mine
        .filter_map(|e| match &e.what {
            TraceWhat::Online { .. } => Some(serde_json::json!({"status": "online"})),
            TraceWhat::Devices { push_ids } if push_ids.is_empty() => {
                Some(serde_json::json!({"status": "no_device"}))
            }
            TraceWhat::Outcome { status, detail } => Some(serde_json::json!({
                "status": status, "push_id": e.push_id, "vendor": e.vendor.map(|v| v.as_str()),
                "detail": detail,
            })),
            _ => None,
        })
        .collect();
    if results.is_empty() {
        results.push(serde_json::json!({"status": "pending"}));
    }
    results
}

async fn user_messages(
    req: HttpRequest,
    state: web::Data<ApiState>,
    store: web::Data<TraceStore>,
    path: web::Path<(String, String)>,
    query: web::Query<Limit>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, user_id) = path.into_inner();
    state.server_only(&req, &app_id, "traces")?;
    let (app, user, limit) = (app_id.clone(), user_id.clone(), query.get());
    let messages = read(move || {
        let recent = store.user_messages(&app, &user, limit)?;
        let mut out = Vec::with_capacity(recent.len());
        for m in recent {
            let events = store.message(&app, &m.message_id)?;
            out.push(serde_json::json!({
                "message_id": m.message_id, "at_ms": m.at_ms,
                "results": results_for(&user, &events),
            }));
        }
        Ok(out)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "user_id": user_id, "messages": messages })))
}

async fn rejected(
    req: HttpRequest,
    state: web::Data<ApiState>,
    store: web::Data<TraceStore>,
    path: web::Path<String>,
    query: web::Query<Limit>,
) -> Result<HttpResponse, ApiError> {
    let app_id = path.into_inner();
    state.server_only(&req, &app_id, "traces")?;
    let (app, limit) = (app_id.clone(), query.get());
    // Rejected inputs of every app are filed together: read enough to find this app's.
    let found = read(move || store.rejected(limit * 10)).await?;
    let rejected: Vec<serde_json::Value> = found
        .iter()
        .filter(|e| e.app_id == app)
        .take(limit)
        .map(|e| {
            let mut v = e.to_json();
            v["message_id"] = e.message_id.as_str().into();
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "app_id": app_id, "rejected": rejected })))
}
