//! The orders API. The shop's server creates and reads its orders with its site key;
//! the shopper's browser (the embed, the order page) reads an order's code and status
//! by the order's token, from the shop's own site when it is in `EMBED_ORIGINS`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use chrono::{TimeZone, Utc};
use serde::Serialize;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::limit::Throttle;
use super::site_key::SiteKey;
use crate::http::extract::Path;
use crate::quote::Domain;
use crate::quote::orders::input::read_json;
use crate::quote::orders::view::OrderView;
use crate::quote::orders::{Created, Order};
use crate::quote::scans::{OrderStatus, order_status};
use crate::{AppError, AppState};

/// The shop's server's routes (site key).
pub fn keyed_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(show))
}

/// The shopper's routes (the order's token), which the sites in `origins` may call.
/// A browser's call from any other site is refused before it costs anything (a code
/// made for a page the owner did not allow would spend the account's quota); calls
/// without an `Origin` (servers, the service's own pages) are not browsers' and pass.
pub fn public_router(origins: &[String]) -> OpenApiRouter<AppState> {
    let allowed: Arc<Vec<String>> = Arc::new(origins.to_vec());
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(
            origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
        ))
        .allow_methods([Method::GET]);
    OpenApiRouter::new()
        .routes(routes!(qrcode))
        .routes(routes!(status))
        .layer(middleware::from_fn_with_state(allowed, refuse_other_sites))
        .layer(cors)
}

async fn refuse_other_sites(
    State(allowed): State<Arc<Vec<String>>>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    if !from_an_allowed_site(&req, &allowed) {
        return Err(AppError::Forbidden);
    }
    Ok(next.run(req).await)
}

fn from_an_allowed_site(req: &Request, allowed: &[String]) -> bool {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let Some(origin) = header(ORIGIN) else {
        return true;
    };
    // The same site as the service: `Origin` without its scheme is the `Host`.
    let same_site = origin.split_once("://").map(|(_, host)| host) == header(HOST);
    if same_site || allowed.iter().any(|o| o == origin) {
        return true;
    }
    tracing::warn!(origin, "a site not in EMBED_ORIGINS called the order API");
    false
}

/// The body of `POST /api/orders`. Values are numbers or decimal strings, read exactly
/// (never as floats); the fields a site owner defined may also stand at the top level.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NewOrderBody {
    /// The shop's own reference, 1–64 characters, unique per site key: repeating a
    /// create with it returns the same order.
    #[schema(example = "A-1001")]
    external_id: Option<String>,
    /// The order's fields by name, as `GET /api/admin/order-fields` defines them.
    #[schema(value_type = Object, example = json!({"total_money": "12800", "saved_money": "3200.50", "room_area": "88"}))]
    fields: Option<serde_json::Value>,
    /// Optional lines: `amount` must be `quantity × unit_price` to the fen.
    items: Option<Vec<crate::quote::orders::Item>>,
}

#[derive(Serialize, ToSchema)]
pub struct OrderAnswer {
    #[serde(flatten)]
    order: OrderView,
    status: OrderStatus,
}

async fn answer(domain: &Domain, order: &Order) -> Result<OrderAnswer, AppError> {
    Ok(OrderAnswer {
        order: OrderView::of(order, &domain.base_url),
        status: order_status(&domain.db, order.id).await?,
    })
}

/// Creates an order, or returns the one the key made with the same `external_id`.
#[utoipa::path(post, path = "/api/orders", tag = "orders", request_body = NewOrderBody,
    security(("site_key" = [])),
    responses((status = 201, body = OrderAnswer, description = "a new order"),
              (status = 200, body = OrderAnswer, description = "the order made before with this external_id"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create(
    SiteKey(key): SiteKey,
    State(domain): State<Domain>,
    body: Bytes,
) -> Result<(StatusCode, Json<OrderAnswer>), AppError> {
    let schema = domain.schemas.current().await?;
    let new = read_json(&body, &schema)?;
    let (order, created) = domain.orders.create(Some(key), new).await?;
    let status = match created {
        Created::New => StatusCode::CREATED,
        Created::Existing => StatusCode::OK,
    };
    Ok((status, Json(answer(&domain, &order).await?)))
}

/// One of the key's orders, by the shop's `external_id` or by the order's token.
#[utoipa::path(get, path = "/api/orders/{ref}", tag = "orders", params(("ref" = String, Path)),
    security(("site_key" = [])),
    responses((status = 200, body = OrderAnswer), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show(
    SiteKey(key): SiteKey,
    State(domain): State<Domain>,
    Path(reference): Path<String>,
) -> Result<Json<OrderAnswer>, AppError> {
    let order = domain.orders.of_site_key(key, &reference).await?;
    Ok(Json(answer(&domain, &order).await?))
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

/// The order's temporary QR code (1800 s), reused while it has more than a minute left.
#[utoipa::path(get, path = "/api/orders/{token}/qrcode", tag = "orders", params(("token" = String, Path)),
    responses((status = 200, body = QrCodeView), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn qrcode(
    _: Throttle,
    State(domain): State<Domain>,
    Path(token): Path<String>,
) -> Result<Json<QrCodeView>, AppError> {
    // Through the cache: the scan that follows finds the order without reading it.
    let order = domain.orders.by_token(&token).await?;
    let live = domain.tickets.for_order(order.id).await?;
    let base = domain.base_url.as_str();
    Ok(Json(QrCodeView {
        expire_seconds: live.remaining_seconds(),
        expires_at: Utc
            .timestamp_millis_opt(live.expires_at_ms)
            .single()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
        image_url: format!("{base}orders/{}/qrcode.png", order.token),
        svg_url: format!("{base}orders/{}/qrcode.svg", order.token),
        showqrcode_url: domain.wechat.showqrcode_url(&live.ticket),
        ticket: live.ticket.clone(),
        url: live.url.clone(),
    }))
}

#[derive(Serialize, ToSchema)]
struct StatusView {
    status: OrderStatus,
}

/// Where the order's message stands, for the shopper's page and the embed.
#[utoipa::path(get, path = "/api/orders/{token}/status", tag = "orders", params(("token" = String, Path)),
    responses((status = 200, body = StatusView), (status = 404, body = ErrorBody)))]
async fn status(
    State(domain): State<Domain>,
    Path(token): Path<String>,
) -> Result<Json<StatusView>, AppError> {
    let order = domain.orders.by_token(&token).await?;
    Ok(Json(StatusView {
        status: order_status(&domain.db, order.id).await?,
    }))
}
