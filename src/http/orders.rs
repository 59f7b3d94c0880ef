//! The orders API: create, read, its QR ticket and its scan status.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{TimeZone, Utc};
use serde::Serialize;

use super::limit::Throttle;
use crate::quote::orders::{NewOrder, OrderView, create_order, find_order, parse_order_id};
use crate::quote::scans::{OrderStatus, order_status};
use crate::quote::tickets::ticket_for_order;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/orders", post(create))
        .route("/api/orders/{id}", get(show))
        .route("/api/orders/{id}/qrcode", get(qrcode))
        .route("/api/orders/{id}/status", get(status))
}

async fn create(
    _: Throttle,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<OrderView>), AppError> {
    let new = NewOrder::from_json(&body)?;
    let order = create_order(&state.db, new).await?;
    Ok((StatusCode::CREATED, Json(OrderView::of(&order))))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, AppError> {
    let order = find_order(&state.db, parse_order_id(&id)?).await?;
    Ok(Json(OrderView::of(&order)))
}

#[derive(Serialize)]
pub struct QrCodeView {
    pub ticket: String,
    /// What the code encodes.
    pub url: String,
    /// Seconds the ticket still lives.
    pub expire_seconds: i64,
    pub expires_at: String,
    /// The locally drawn PNG.
    pub image_url: String,
    pub svg_url: String,
    /// WeChat's own image of the code (ticket URL-encoded).
    pub showqrcode_url: String,
}

async fn qrcode(
    _: Throttle,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<QrCodeView>, AppError> {
    let order = find_order(&state.db, parse_order_id(&id)?).await?;
    let live = ticket_for_order(&state, order.id).await?;
    let base = state.base_url.as_str();
    Ok(Json(QrCodeView {
        expire_seconds: live.remaining_seconds(),
        expires_at: Utc
            .timestamp_millis_opt(live.expires_at_ms)
            .single()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
        image_url: format!("{base}orders/{}/qrcode.png", order.id),
        svg_url: format!("{base}orders/{}/qrcode.svg", order.id),
        showqrcode_url: state.wechat.showqrcode_url(&live.ticket),
        ticket: live.ticket.clone(),
        url: live.url.clone(),
    }))
}

#[derive(Serialize)]
struct StatusView {
    status: OrderStatus,
}

async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StatusView>, AppError> {
    let order = find_order(&state.db, parse_order_id(&id)?).await?;
    Ok(Json(StatusView {
        status: order_status(&state.db, order.id).await?,
    }))
}
