//! The orders API: create, read, its QR ticket and its scan status.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{TimeZone, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::limit::Throttle;
use crate::quote::Domain;
use crate::quote::orders::{NewOrder, OrderView, parse_order_id};
use crate::quote::scans::{OrderStatus, order_status};
use crate::{AppError, AppState};

/// Each route is registered with its OpenAPI description, so the two cannot drift.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(show))
        .routes(routes!(qrcode))
        .routes(routes!(status))
}

/// The body of `POST /api/orders`: numbers or decimal strings, read exactly (never as
/// floats); money in yuan with at most 2 decimals, area in m².
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NewOrderBody {
    #[schema(value_type = String, example = "12800")]
    total_money: String,
    #[schema(value_type = String, example = "3200.50")]
    saved_money: String,
    #[schema(value_type = String, example = "88")]
    room_area: String,
}

/// Creates an order (the quote a visitor wants to keep).
#[utoipa::path(post, path = "/api/orders", tag = "orders", request_body = NewOrderBody,
    responses((status = 201, body = OrderView), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn create(
    _: Throttle,
    State(domain): State<Domain>,
    body: Bytes,
) -> Result<(StatusCode, Json<OrderView>), AppError> {
    let new = NewOrder::from_json(&body)?;
    let order = domain.orders.create(new).await?;
    Ok((StatusCode::CREATED, Json(OrderView::of(&order))))
}

#[utoipa::path(get, path = "/api/orders/{id}", tag = "orders", params(("id" = u32, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody)))]
async fn show(
    State(domain): State<Domain>,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, AppError> {
    let order = domain.orders.find(parse_order_id(&id)?).await?;
    Ok(Json(OrderView::of(&order)))
}

#[derive(Serialize, ToSchema)]
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

/// The order's temporary QR ticket (1800 s), reused while it has more than a minute left.
#[utoipa::path(get, path = "/api/orders/{id}/qrcode", tag = "orders", params(("id" = u32, Path)),
    responses((status = 200, body = QrCodeView), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn qrcode(
    _: Throttle,
    State(domain): State<Domain>,
    Path(id): Path<String>,
) -> Result<Json<QrCodeView>, AppError> {
    // Through the cache: the scan that follows finds the order without reading it.
    let order = domain.orders.cached(parse_order_id(&id)?).await?;
    let live = domain.tickets.for_order(order.id).await?;
    let base = domain.base_url.as_str();
    Ok(Json(QrCodeView {
        expire_seconds: live.remaining_seconds(),
        expires_at: Utc
            .timestamp_millis_opt(live.expires_at_ms)
            .single()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
        image_url: format!("{base}orders/{}/qrcode.png", order.id),
        svg_url: format!("{base}orders/{}/qrcode.svg", order.id),
        showqrcode_url: domain.wechat.showqrcode_url(&live.ticket),
        ticket: live.ticket.clone(),
        url: live.url.clone(),
    }))
}

#[derive(Serialize, ToSchema)]
struct StatusView {
    status: OrderStatus,
}

/// Where the order's message stands, for the shopper's page.
#[utoipa::path(get, path = "/api/orders/{id}/status", tag = "orders", params(("id" = u32, Path)),
    responses((status = 200, body = StatusView), (status = 404, body = ErrorBody)))]
async fn status(
    State(domain): State<Domain>,
    Path(id): Path<String>,
) -> Result<Json<StatusView>, AppError> {
    let order = domain.orders.find(parse_order_id(&id)?).await?;
    Ok(Json(StatusView {
        status: order_status(&domain.db, order.id).await?,
    }))
}
