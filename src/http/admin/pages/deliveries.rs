//! Sending a failed message again from the console.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;

use super::dashboard::after_form;
use super::{AdminForm, NoFields};
use crate::quote::outbox::views;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/deliveries/{id}/retry", post(retry_delivery))
}

async fn retry_delivery(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Result<Response, AppError> {
    let retried = views::retry(&app.domain, id).await;
    after_form(&app, &admin, retried, "/admin#deliveries").await
}
