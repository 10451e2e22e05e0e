//! Every error the device API answers, with its HTTP status and its stable `code`.

use crate::auth::Refusal;
use crate::store::StoreError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("app `{0}` is not configured")]
    UnknownApp(String),
    #[error("too many requests: try again in {} s", .0.as_secs().max(1))]
    RateLimited(Duration),
    #[error("the body is over the {0} bytes a request may carry")]
    TooLarge(usize),
    #[error(
        "no trace of `{0}`: unknown, older than the trace window, or not sampled (trace.sample)"
    )]
    TraceNotFound(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    BrokerUnavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Unauthorized(why) => ApiError::Unauthorized(why),
            Refusal::Forbidden(why) => ApiError::Forbidden(why),
        }
    }
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid(_) => "invalid_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::UnknownApp(_) => "unknown_app",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::TooLarge(_) => "body_too_large",
            ApiError::TraceNotFound(_) => "trace_not_found",
            ApiError::Unavailable(_) => "storage_unavailable",
            ApiError::BrokerUnavailable(_) => "broker_unavailable",
            ApiError::Store(StoreError::NotFound(_)) => "device_not_found",
            ApiError::Store(StoreError::TokenTaken(_)) => "token_taken",
            ApiError::Store(_) => "storage_unavailable",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnknownApp(_)
            | ApiError::TraceNotFound(_)
            | ApiError::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) | ApiError::BrokerUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Store(StoreError::TokenTaken(_)) => StatusCode::CONFLICT,
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::RateLimited(wait) = self {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response.insert_header((header::RETRY_AFTER, seconds.max(1).to_string()));
        }
        if let ApiError::Unauthorized(_) = self {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(serde_json::json!({
            "error": {"code": self.code(), "message": self.to_string()}
        }))
    }
}
