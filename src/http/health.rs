//! `/healthz` (liveness: is the database reachable?), `/readyz` (readiness, for a load
//! balancer: the database reachable, every migration applied, the outbox worker going
//! round) and `/metrics` (Prometheus text).

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
        .route("/readyz", get(ready))
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

/// 200 when this instance can take traffic; 503 with what is not ready otherwise.
async fn ready(State(domain): State<Domain>) -> impl IntoResponse {
    use migration::MigratorTrait;
    let mut not_ready: Vec<&str> = Vec::new();
    match migration::Migrator::get_pending_migrations(&domain.db).await {
        Ok(pending) if pending.is_empty() => {}
        Ok(_) => not_ready.push("数据库迁移没有全部完成（运行 scanquote migrate）"),
        Err(e) => {
            tracing::error!(error = %e, "readiness: database unreachable");
            not_ready.push("数据库连不上");
        }
    }
    if !domain.outbox.worker_running(crate::now_ms()) {
        not_ready.push("消息发送任务没有在运行");
    }
    let database = if not_ready.iter().any(|r| r.starts_with("数据库连不上")) {
        "unreachable"
    } else {
        "ok"
    };
    let worker = if domain.outbox.worker_running(crate::now_ms()) {
        "running"
    } else {
        "stopped"
    };
    let status = if not_ready.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if not_ready.is_empty() { "ready" } else { "not ready" },
            "database": database, "worker": worker, "problems": not_ready,
            "instance": domain.instance_id,
        })),
    )
}

async fn metrics(State(domain): State<Domain>) -> Result<impl IntoResponse, AppError> {
    let outbox = outbox_gauge(&domain.db).await?;
    let body = domain
        .metrics
        .render(domain.wechat.tokens().fetch_count(), &outbox);
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}
