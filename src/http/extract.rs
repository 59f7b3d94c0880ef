//! `Path` and `Query` as the service's handlers take them: axum's own answer a bad value
//! with an English plain-text 400; these answer with the app's JSON error, in Chinese,
//! naming the parameter. A query string is read like a form ([`super::body::form`]).

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, path::ErrorKind};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::AppError;

/// The path's parameters, deserialized.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(match e.into_kind() {
                ErrorKind::ParseErrorAtKey { key, value, .. } => {
                    AppError::bad_field(key.clone(), format!("路径里的 {key} 不对：{value}"))
                }
                ErrorKind::ParseErrorAtIndex { value, .. }
                | ErrorKind::ParseError { value, .. } => {
                    AppError::bad_request(format!("路径不对：{value}"))
                }
                _ => AppError::bad_request("路径不对"),
            }),
            Err(_) => Err(AppError::NotFound),
        }
    }
}

/// The query string's parameters, deserialized (values are text, read as numbers or
/// booleans where the type asks).
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        super::body::form(query.as_bytes()).map(Query)
    }
}
