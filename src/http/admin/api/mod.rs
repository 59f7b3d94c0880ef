//! `/api/admin/*`: what the console does, for scripts (bearer `ADMIN_TOKEN`) and for the
//! console's own pages (session cookie + `X-CSRF-Token` on changes). One file per
//! subject, each with its routes and their OpenAPI descriptions; `http::router` merges
//! them.

pub mod channel_codes;
pub mod channel_images;
pub mod deliveries;
pub mod integration;
pub mod settings;
pub mod template;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::auth::{Admin, Gate};
use crate::AppError;

/// A change the site owner asked for with no body: a bearer token, or a session
/// cookie with the session's `X-CSRF-Token`.
pub struct AdminAction(pub Admin);

impl<S> FromRequestParts<S> for AdminAction
where
    S: Send + Sync,
    Gate: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let admin = Admin::from_request_parts(parts, state).await?;
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        admin.check_csrf(sent)?;
        Ok(AdminAction(admin))
    }
}

/// A body that did not arrive whole: too large, or cut off.
pub fn unreadable(e: axum::extract::rejection::BytesRejection) -> AppError {
    match e.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge,
        _ => AppError::bad_request("请求内容没有完整收到"),
    }
}

/// A change with a JSON body, checked as [`AdminAction`] and then read with the app's
/// own 400 (the field and reason).
pub struct AdminChange<T>(pub T);

impl<S, T> FromRequest<S> for AdminChange<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
    Gate: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let (mut parts, body) = req.into_parts();
        AdminAction::from_request_parts(&mut parts, state).await?;
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(unreadable)?;
        crate::http::body::json(&body).map(AdminChange)
    }
}
