//! One error type for every handler, named by what the client should understand.
//! Server-side failures are logged with their cause chain and answered with a generic
//! body, so no internal detail (SQL, tokens, upstream messages) reaches a client.

use axum::Json;
use axum::http::StatusCode;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;
use serde_json::json;

use crate::wechat::WechatError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// The request is wrong; `field` names the offending input when there is one.
    #[error("bad request: {reason}")]
    BadRequest {
        field: Option<&'static str>,
        reason: String,
    },
    /// The site owner's credentials are missing or wrong.
    #[error("unauthorized")]
    Unauthorized,
    /// Too many requests from one client; try again after this many seconds.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// The body is larger than the route accepts.
    #[error("payload too large")]
    TooLarge,
    /// The request conflicts with the current state (the text says how).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A signature did not hold.
    #[error("forbidden")]
    Forbidden,
    /// WeChat refused or could not be reached; the caller may try again later.
    #[error("wechat: {0}")]
    Upstream(#[from] WechatError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_field(field: &'static str, reason: impl Into<String>) -> Self {
        AppError::BadRequest {
            field: Some(field),
            reason: reason.into(),
        }
    }

    pub fn bad_request(reason: impl Into<String>) -> Self {
        AppError::BadRequest {
            field: None,
            reason: reason.into(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            AppError::NotFound => (StatusCode::NOT_FOUND, json!({ "error": "not found" })),
            AppError::BadRequest { field, reason } => (
                StatusCode::BAD_REQUEST,
                json!({ "error": reason, "field": field }),
            ),
            AppError::Unauthorized => {
                let body = Json(json!({ "error": "admin token required" }));
                return (
                    StatusCode::UNAUTHORIZED,
                    [(WWW_AUTHENTICATE, "Bearer")],
                    body,
                )
                    .into_response();
            }
            AppError::RateLimited { retry_after_secs } => {
                let body = Json(
                    json!({ "error": "too many requests", "retry_after_seconds": retry_after_secs }),
                );
                let retry = retry_after_secs.to_string();
                return (StatusCode::TOO_MANY_REQUESTS, [(RETRY_AFTER, retry)], body)
                    .into_response();
            }
            AppError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "error": "payload too large" }),
            ),
            AppError::Forbidden => (StatusCode::FORBIDDEN, json!({ "error": "forbidden" })),
            AppError::Conflict(reason) => (StatusCode::CONFLICT, json!({ "error": reason })),
            AppError::Upstream(e) => {
                tracing::warn!(error = %e, "wechat call failed");
                (
                    StatusCode::BAD_GATEWAY,
                    json!({ "error": "WeChat is unavailable, try again shortly" }),
                )
            }
            AppError::Db(_) | AppError::Internal(_) => {
                tracing::error!(error = %format!("{:#}", anyhow::Error::from(self)), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "error": "internal error" }),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}
