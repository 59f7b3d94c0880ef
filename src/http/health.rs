//! `/healthz` (is the database reachable?) and `/metrics` (Prometheus text).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::quote::deliveries::outbox_gauge;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let mode = if state.config.wechat.sandbox {
        "sandbox"
    } else {
        "wechat"
    };
    match state.db.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "mode": mode, "instance": state.instance_id })),
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

async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let outbox = outbox_gauge(&state.db).await?;
    let body = state.metrics.render(
        state.wechat.tokens().fetch_count(),
        &outbox,
        &state.wechat.latencies(),
    );
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}
