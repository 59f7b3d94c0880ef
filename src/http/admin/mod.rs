//! The site owner's console (`/admin`, server-rendered) and its JSON API
//! (`/api/admin/*`), both behind [`auth::Admin`].

pub mod api;
pub mod auth;
pub mod pages;

use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().merge(pages::router()).merge(api::router())
}
