//! `/api/admin/*`: what the console does, for scripts (bearer `ADMIN_TOKEN`) and for the
//! console's own pages (session cookie + `X-CSRF-Token` on changes).

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, put};
use serde::{Deserialize, Serialize};

use super::auth::Admin;
use crate::quote::deliveries::{DeliveryView, recent_deliveries};
use crate::replies::{SceneReplyView, list_replies, save_reply};
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/deliveries", get(deliveries))
        .route("/api/admin/scene-replies", get(scene_replies))
        .route("/api/admin/scene-replies/{scene}", put(put_scene_reply))
}

#[derive(Deserialize)]
struct DeliveryQuery {
    status: Option<String>,
    limit: Option<u64>,
}

async fn deliveries(
    _: Admin,
    State(state): State<AppState>,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<Vec<DeliveryView>>, AppError> {
    Ok(Json(
        recent_deliveries(&state.db, q.status.as_deref(), q.limit.unwrap_or(50)).await?,
    ))
}

async fn scene_replies(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<Vec<SceneReplyView>>, AppError> {
    Ok(Json(list_replies(&state.db).await?))
}

#[derive(Deserialize, Serialize)]
struct ReplyBody {
    text: String,
}

async fn put_scene_reply(
    admin: Admin,
    State(state): State<AppState>,
    Path(scene): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<SceneReplyView>, AppError> {
    admin.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    let body: ReplyBody = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_request(format!("body must be {{\"text\": …}}: {e}")))?;
    Ok(Json(save_reply(&state, &scene, &body.text).await?))
}
