//! `GET /v1/apps/{app_id}/users/{user_id}/sessions`: the user's live sessions as presence holds
//! them (`registry.presence`), for the console's user lookup.

use crate::api::{ApiError, ApiState};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::time::Duration;

pub async fn sessions(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, user_id) = path.into_inner();
    state.server_only(&req, &app_id, "sessions")?;
    let base = state.settings.presence_url();
    let url = format!("{base}/v1/apps/{app_id}/users/{user_id}/sessions");
    let read = async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        http.get(&url)
            .send()
            .await?
            .error_for_status()?
            .json::<Value>()
            .await
    };
    // The lookup shows what it could read: presence down is said, not an error page.
    Ok(HttpResponse::Ok().json(match read.await {
        Ok(body) => body,
        Err(e) => json!({
            "user_id": user_id, "sessions": [],
            "error": format!("presence at {base} unreachable: {e}"),
        }),
    }))
}
