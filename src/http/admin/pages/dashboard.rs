//! The console's overview: how messages are going, and what to do first.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use minijinja::context;

use super::console::{self, Done, Said, Section};
use crate::http::admin::auth::Admin;
use crate::http::extract::Query;
use crate::quote::outbox::views::status_counts;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin", get(overview))
}

async fn overview(
    admin: Admin,
    State(app): State<AppState>,
    Query(q): Query<Done>,
) -> Result<Response, AppError> {
    let counts = status_counts(&app.domain.db).await?;
    console::page(
        &app,
        &admin,
        Section::Overview,
        "admin.html",
        context! { counts },
        Said::done(q.done.as_deref()),
    )
    .await
}
