//! Each vendor's state for one app, as the console shows it: its dispatcher's `/state` for the
//! app (breaker, quota, waiting, the last minutes' failures) and the parked pushes, which can
//! be replayed.

use crate::api::{ApiError, ApiState};
use actix_web::{web, HttpRequest, HttpResponse};
use pushmesh_contract::Vendor;
use pushmesh_runtime::amqp::parked;
use serde_json::{json, Value};
use std::time::Duration;

/// `GET /v1/apps/{app_id}/vendors`
pub async fn vendors(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app_id = path.into_inner();
    state.server_only(&req, &app_id, "vendor states")?;
    let configured = state
        .settings
        .apps
        .get(&app_id)
        .into_iter()
        .flat_map(|v| v.keys());
    let vendors: Vec<Vendor> = configured.filter_map(|v| v.parse().ok()).collect();
    let (conn, channel) = super::broker(&state).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let mut out = Vec::new();
    for vendor in vendors {
        let mut row =
            dispatcher_state(&http, &state.settings.dispatcher_url(vendor), &app_id).await;
        row["vendor"] = vendor.as_str().into();
        row["parked"] = match parked::count(&channel, vendor).await {
            Ok(n) => n.into(),
            Err(e) => {
                row["error"] = format!("parked queue: {e}").into();
                Value::Null
            }
        };
        out.push(row);
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(HttpResponse::Ok().json(json!({ "app_id": app_id, "vendors": out })))
}

/// The app's vendor actor as its dispatcher reports it, or why it could not be read.
async fn dispatcher_state(http: &reqwest::Client, base: &str, app_id: &str) -> Value {
    let read = async {
        let resp = http
            .get(format!("{base}/state"))
            .send()
            .await?
            .error_for_status()?;
        resp.json::<Value>().await
    };
    match read.await {
        Ok(body) => match body["apps"].get(app_id) {
            Some(state) => state.clone(),
            None => json!({"error": "the dispatcher has no settings for this app"}),
        },
        Err(e) => json!({"error": format!("dispatcher at {base} unreachable: {e}")}),
    }
}

#[derive(serde::Deserialize)]
pub struct ReplayQuery {
    ttl_s: Option<u64>,
}

/// `POST /v1/apps/{app_id}/vendors/{vendor}/replay?ttl_s=N`: the app's parked pushes go back
/// to the vendor's dispatcher as new sends, each with `ttl_s` to live (`ingest.default_ttl_s`
/// when absent: a parked push has often run out of its own).
pub async fn replay(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
    query: web::Query<ReplayQuery>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, vendor) = path.into_inner();
    state.server_only(&req, &app_id, "vendor states")?;
    let vendor: Vendor = vendor
        .parse()
        .map_err(|e| ApiError::Invalid(format!("vendor: {e}")))?;
    let (conn, channel) = super::broker(&state).await?;
    let ttl_s = query.ttl_s.unwrap_or(state.settings.ingest.default_ttl_s);
    let replayed = parked::replay(&channel, vendor, Some(&app_id), Some(ttl_s))
        .await
        .map_err(|e| ApiError::BrokerUnavailable(e.to_string()));
    let _ = conn.close(200, "done".into()).await;
    let replayed = replayed?;
    tracing::info!(%app_id, %vendor, replayed, "parked pushes replayed");
    Ok(HttpResponse::Ok().json(json!({ "vendor": vendor.as_str(), "replayed": replayed })))
}
