//! `/healthz` (is the database reachable?) and `/metrics` (Prometheus text).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::web::Web;
use crate::quote::Domain;
use crate::quote::outbox::views::outbox_gauge;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
}

async fn health(State(domain): State<Domain>, State(web): State<Web>) -> impl IntoResponse {
    let mode = if web.sandbox() { "sandbox" } else { "wechat" };
    match domain.db.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "mode": mode, "instance": domain.instance_id })),
        ),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "database unavailable", "mode": mode })),
            )
        }
    }
}

async fn metrics(State(domain): State<Domain>) -> Result<impl IntoResponse, AppError> {
    let outbox = outbox_gauge(&domain.db).await?;
    let body = domain
        .metrics
        .render(domain.wechat.tokens().fetch_count(), &outbox);
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}
