//! The site owner's console (`/admin`, server-rendered) and its JSON API
//! (`/api/admin/*`), both behind [`auth::Admin`].

pub mod api;
pub mod auth;
pub mod pages;

use axum::Router;

use crate::AppState;

/// The console's pages; the JSON API is served with its OpenAPI document (see
/// `http::openapi`).
pub fn router() -> Router<AppState> {
    pages::router()
}
