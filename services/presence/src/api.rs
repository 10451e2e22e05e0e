//! `GET /v1/apps/{app_id}/users/{user_id}/sessions` on presence's own (internal) port: a
//! user's live sessions, which the registry's console shows. Not for the outside: like
//! `/metrics`, presence's port answers anyone who reaches it.

use crate::sessions::Sessions;
use actix_web::{web, HttpResponse};
use pushmesh_contract::now_ms;
use std::sync::{Arc, Mutex};

pub fn routes(sessions: Arc<Mutex<Sessions>>) -> impl Fn(&mut web::ServiceConfig) + Send + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::from(sessions.clone())).route(
            "/v1/apps/{app_id}/users/{user_id}/sessions",
            web::get().to(of_user),
        );
    }
}

async fn of_user(
    sessions: web::Data<Mutex<Sessions>>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (app_id, user_id) = path.into_inner();
    let live = sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .of(&app_id, &user_id, now_ms());
    let live: Vec<_> = live
        .into_iter()
        .map(|(id, until)| serde_json::json!({"session_id": id, "until_ms": until}))
        .collect();
    HttpResponse::Ok().json(serde_json::json!({ "user_id": user_id, "sessions": live }))
}
