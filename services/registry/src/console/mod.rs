//! The operator's console: one page (`page.html`, plain JavaScript, no build step) over the
//! server API, for an app's server key. Logging in with the key opens a session, an HttpOnly
//! SameSite=Strict cookie the API takes in place of the key: the key never sits in the page.
//! Without a session the console answers only its login form.

mod send;
mod sessions;
mod vendors;

pub use send::test_push;
pub use sessions::sessions;
pub use vendors::{replay, vendors};

use crate::api::{ApiError, ApiState};
use crate::auth::Caller;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties};
use pushmesh_runtime::amqp;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const COOKIE: &str = "pushmesh_console";
/// A session lasts a working day; the login form comes back after it.
const LIFETIME: Duration = Duration::from_secs(8 * 3600);
const PAGE: &str = include_str!("page.html");
const LOGIN: &str = include_str!("login.html");

/// Open console sessions: the session id (random, 244 bits) to whom it was opened for.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

struct Session {
    app_id: String,
    caller: Caller,
    until: Instant,
}

impl Sessions {
    fn open(&self, app_id: String, caller: Caller) -> String {
        let id = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        open.retain(|_, s| s.until > now);
        let until = now + LIFETIME;
        open.insert(
            id.clone(),
            Session {
                app_id,
                caller,
                until,
            },
        );
        id
    }

    fn close(&self, id: &str) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// The app and caller of `req`'s session, if it has a live one.
    pub fn of(&self, req: &HttpRequest) -> Option<(String, Caller)> {
        let id = session_id(req)?;
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let s = open.get(id).filter(|s| s.until > Instant::now())?;
        Some((s.app_id.clone(), s.caller.clone()))
    }
}

/// The session cookie's value (the one cookie the console sets; actix-web's cookie feature
/// would rebuild the whole workspace for these lines).
fn session_id(req: &HttpRequest) -> Option<&str> {
    let cookies = req.headers().get(header::COOKIE)?.to_str().ok()?;
    cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(page))
        .route("/console/login", web::post().to(login))
        .route("/console/logout", web::post().to(logout))
        .route("/console/session", web::get().to(session));
}

fn html(body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .insert_header(("x-frame-options", "DENY"))
        .body(body.to_owned())
}

async fn page(req: HttpRequest, state: web::Data<ApiState>) -> HttpResponse {
    match state.sessions.of(&req) {
        Some(_) => html(PAGE),
        None => html(&LOGIN.replace("{error}", "")),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    key: String,
}

async fn login(state: web::Data<ApiState>, form: web::Form<LoginForm>) -> HttpResponse {
    let Some((app_id, caller)) = state.credentials.server_of(form.key.trim()) else {
        let mut refused = html(&LOGIN.replace("{error}", "That is not a server API key."));
        *refused.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
        return refused;
    };
    tracing::info!(%app_id, "console session opened");
    let id = state.sessions.open(app_id, caller);
    let max_age = LIFETIME.as_secs();
    let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    HttpResponse::SeeOther()
        .insert_header((header::SET_COOKIE, cookie))
        .insert_header((header::LOCATION, "/console"))
        .finish()
}

async fn logout(req: HttpRequest, state: web::Data<ApiState>) -> HttpResponse {
    if let Some(id) = session_id(&req) {
        state.sessions.close(id);
    }
    let gone = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    HttpResponse::SeeOther()
        .insert_header((header::SET_COOKIE, gone))
        .insert_header((header::LOCATION, "/console"))
        .finish()
}

/// The session's app and the vendors configured for it.
async fn session(req: HttpRequest, state: web::Data<ApiState>) -> HttpResponse {
    let Some((app_id, _)) = state.sessions.of(&req) else {
        return HttpResponse::Unauthorized().json(serde_json::json!({
            "error": {"code": "unauthorized", "message": "log in to the console"}
        }));
    };
    let vendors: Vec<&String> = state.settings.apps[&app_id].keys().collect();
    HttpResponse::Ok().json(serde_json::json!({ "app_id": app_id, "vendors": vendors }))
}

/// A confirming channel on a connection of its own: the console's broker work (a test push,
/// counting and replaying parked pushes) is rare, and the stage connection is the consumers'.
pub(crate) async fn broker(state: &ApiState) -> Result<(Connection, Channel), ApiError> {
    let broker = |e: amqp::AmqpError| ApiError::BrokerUnavailable(e.to_string());
    let props = ConnectionProperties::default().with_connection_name("registry-console".into());
    let conn = amqp::open(&state.settings.amqp, props)
        .await
        .map_err(broker)?;
    let channel = conn.create_channel().await.map_err(|e| broker(e.into()))?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| broker(e.into()))?;
    Ok((conn, channel))
}
