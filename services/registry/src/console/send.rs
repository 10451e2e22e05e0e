//! A test push from the console (or any server): an `im.message` to one user, published to
//! the ingest exchange like the IM server's own, for real or as a dry run.

use crate::api::{ApiError, ApiState};
use actix_web::{web, HttpRequest, HttpResponse};
use lapin::options::BasicPublishOptions;
use lapin::BasicProperties;
use pushmesh_runtime::amqp::topology::INGEST_EXCHANGE;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestPush {
    user_id: String,
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
    path: web::Path<String>,
    body: web::Json<TestPush>,
) -> Result<HttpResponse, ApiError> {
    let app_id = path.into_inner();
    state.server_only(&req, &app_id, "test pushes")?;
    let t = body.into_inner();
    let message_id = format!("test-{}", uuid::Uuid::new_v4().simple());
    let push = serde_json::json!({
        "title": t.title, "content": t.content, "payload": t.payload,
        "resources_id": t.resources_id,
    });
    let message = serde_json::json!({
        "app_id": app_id, "message_id": message_id, "conversation_type": "peer",
        "conversation_id": "pushmesh-console", "sender_id": "pushmesh-console",
        "recipients": [t.user_id], "push": push, "dry_run": t.dry_run,
    });
    publish(&state, message.to_string().as_bytes())
        .await
        .map_err(|e| {
            ApiError::BrokerUnavailable(format!("the broker did not take the push: {e}"))
        })?;
    tracing::info!(%app_id, %message_id, dry_run = t.dry_run, "test push published");
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "message_id": message_id })))
}

async fn publish(state: &ApiState, body: &[u8]) -> Result<(), ApiError> {
    let (conn, channel) = super::broker(state).await?;
    let confirm = channel
        .basic_publish(
            INGEST_EXCHANGE.into(),
            "im.message".into(),
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
