//! A test push from the console (or any server), for real or as a dry run: to a user, an
//! `im.message` published to the ingest exchange like the IM server's own; to one push_id,
//! the device's push handed straight to its vendor's dispatcher (online or not), its first
//! steps traced here.

use crate::api::{ApiError, ApiState};
use crate::store::StoreError;
use crate::trace::TraceStore;
use actix_web::{web, HttpRequest, HttpResponse};
use lapin::options::BasicPublishOptions;
use lapin::BasicProperties;
use pushmesh_contract::stage::{Batch, Notification, PushJob};
use pushmesh_contract::trace::{TraceEvent, TraceStage, TraceWhat};
use pushmesh_contract::{codec, now_ms};
use pushmesh_runtime::amqp::topology::{dispatch_queue, Lane, INGEST_EXCHANGE};
use pushmesh_runtime::trace::now_us;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestPush {
    user_id: Option<String>,
    push_id: Option<String>,
    title: String,
    content: String,
    payload: Option<String>,
    resources_id: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /v1/apps/{app_id}/test-pushes`: `202 {message_id}`; its trace fills in as usual.
pub async fn test_push(
    req: HttpRequest,
    state: web::Data<ApiState>,
    traces: web::Data<TraceStore>,
    path: web::Path<String>,
    body: web::Json<TestPush>,
) -> Result<HttpResponse, ApiError> {
    let app_id = path.into_inner();
    state.server_only(&req, &app_id, "test pushes")?;
    let t = body.into_inner();
    if t.title.is_empty() && t.content.is_empty() {
        return Err(ApiError::Invalid(
            "title, content: one of them must say something".into(),
        ));
    }
    let message_id = format!("test-{}", uuid::Uuid::new_v4().simple());
    match (t.user_id.clone(), t.push_id.clone()) {
        (Some(user), None) => to_user(&state, &app_id, &message_id, &user, &t).await?,
        (None, Some(push_id)) => {
            to_device(&state, &traces, &app_id, &message_id, &push_id, t).await?
        }
        _ => {
            return Err(ApiError::Invalid(
                "user_id, push_id: name exactly one".into(),
            ))
        }
    }
    tracing::info!(%app_id, %message_id, "test push published");
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "message_id": message_id })))
}

async fn to_user(
    state: &ApiState,
    app_id: &str,
    message_id: &str,
    user: &str,
    t: &TestPush,
) -> Result<(), ApiError> {
    let push = serde_json::json!({
        "title": t.title, "content": t.content, "payload": t.payload,
        "resources_id": t.resources_id,
    });
    let message = serde_json::json!({
        "app_id": app_id, "message_id": message_id, "conversation_type": "peer",
        "conversation_id": "pushmesh-console", "sender_id": "pushmesh-console",
        "recipients": [user], "push": push, "dry_run": t.dry_run,
    });
    let body = message.to_string();
    publish(state, INGEST_EXCHANGE, "im.message", body.as_bytes()).await
}

async fn to_device(
    state: &ApiState,
    traces: &TraceStore,
    app_id: &str,
    message_id: &str,
    push_id: &str,
    t: TestPush,
) -> Result<(), ApiError> {
    let device = state.store.get(app_id, push_id)?;
    let device = device.ok_or_else(|| StoreError::NotFound(push_id.to_owned()))?;
    let user = device.user_id.clone().unwrap_or_default();
    let accepted_us = now_us();
    let job = PushJob {
        app_id: app_id.to_owned(),
        message_id: message_id.to_owned(),
        recipients: Vec::new(),
        notification: Notification {
            title: t.title,
            content: t.content,
            payload: t.payload,
            resources_id: t.resources_id,
        },
        expires_at_ms: now_ms() + state.settings.ingest.default_ttl_s * 1000,
        call: None,
        accepted_us,
        dry_run: t.dry_run,
    };
    let push = crate::handler::device_push(&job, &user, device);
    let event = |at_us: u64, what: TraceWhat| TraceEvent {
        app_id: app_id.to_owned(),
        message_id: message_id.to_owned(),
        at_us,
        filed_us: accepted_us,
        stage: TraceStage::Registry,
        user_id: Some(user.clone()).filter(|u| !u.is_empty()),
        push_id: None,
        vendor: None,
        what,
    };
    let recipients = 1;
    let dry_run = job.dry_run;
    let push_ids = vec![push_id.to_owned()];
    traces.add(&[
        event(
            accepted_us,
            TraceWhat::Accepted {
                recipients,
                dry_run,
            },
        ),
        event(accepted_us + 1, TraceWhat::Devices { push_ids }),
    ]);
    traces
        .flush()
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let queue = dispatch_queue(push.vendor, Lane::Message);
    let body = codec::encode(&Batch { items: vec![push] });
    publish(state, "", &queue, &body).await
}

async fn publish(
    state: &ApiState,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
) -> Result<(), ApiError> {
    let (conn, channel) = super::broker(state).await?;
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await;
    let confirm = match confirm {
        Ok(pending) => pending.await,
        Err(e) => Err(e),
    };
    let _ = conn.close(200, "done".into()).await;
    match confirm {
        Ok(c) if c.is_ack() => Ok(()),
        Ok(_) => Err(ApiError::BrokerUnavailable(
            "the broker refused the push".into(),
        )),
        Err(e) => Err(ApiError::BrokerUnavailable(format!(
            "the broker did not take the push: {e}"
        ))),
    }
}
