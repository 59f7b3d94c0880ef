//! How an [`AppError`] is answered: a status and a JSON body `{error, field}`.
//! Server-side failures are logged with their cause chain and answered with a generic
//! body, so no internal detail (SQL, tokens, upstream messages) reaches a client.

use axum::Json;
use axum::http::StatusCode;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::AppError;

/// Every error answer: what went wrong and, for bad input, which field.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub field: Option<String>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            AppError::NotFound => (StatusCode::NOT_FOUND, json!({ "error": "找不到" })),
            AppError::BadRequest { field, reason } => (
                StatusCode::BAD_REQUEST,
                json!({ "error": reason, "field": field }),
            ),
            AppError::Unauthorized(reason) => {
                let body = Json(json!({ "error": reason }));
                return (
                    StatusCode::UNAUTHORIZED,
                    [(WWW_AUTHENTICATE, "Bearer")],
                    body,
                )
                    .into_response();
            }
            AppError::RateLimited { retry_after_secs } => {
                let body = Json(
                    json!({ "error": format!("请求太频繁，请 {retry_after_secs} 秒后再试"), "retry_after_seconds": retry_after_secs }),
                );
                let retry = retry_after_secs.to_string();
                return (StatusCode::TOO_MANY_REQUESTS, [(RETRY_AFTER, retry)], body)
                    .into_response();
            }
            AppError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "error": "请求内容太大" }),
            ),
            AppError::Forbidden => (
                StatusCode::FORBIDDEN,
                json!({ "error": "没有权限：签名或校验码不对（页面打开太久时请刷新后再试）" }),
            ),
            AppError::Conflict(reason) => (StatusCode::CONFLICT, json!({ "error": reason })),
            AppError::Upstream(e) => {
                tracing::warn!(error = %e, "wechat call failed");
                (
                    StatusCode::BAD_GATEWAY,
                    json!({ "error": "微信接口暂时不可用，请稍后再试" }),
                )
            }
            AppError::Db(_) | AppError::Internal(_) => {
                tracing::error!(error = %format!("{:#}", anyhow::Error::from(self)), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "error": "服务器出错了，请稍后再试" }),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}
