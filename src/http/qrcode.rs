//! `/orders/{token}/qrcode.png` and `.svg`: the order's code, drawn locally from the URL
//! WeChat gave for its ticket (no call to `showqrcode`). Browsers may cache an image
//! until a minute before its ticket expires; the ETag changes with the ticket.

use axum::Router;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use qrcode::QrCode;
use sha1::{Digest, Sha1};

use super::limit::Throttle;
use crate::http::extract::Path;
use crate::quote::Domain;
use crate::quote::codes::tickets::MIN_REMAINING_MS;
use crate::{AppError, AppState, images, now_ms};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders/{token}/qrcode.png", get(png))
        .route("/orders/{token}/qrcode.svg", get(svg))
}

async fn png(
    _: Throttle,
    domain: State<Domain>,
    id: Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    image(domain, id, headers, "image/png", images::qr_png).await
}

async fn svg(
    _: Throttle,
    domain: State<Domain>,
    id: Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    image(domain, id, headers, "image/svg+xml", |code| {
        Ok(images::qr_svg(code))
    })
    .await
}

async fn image(
    State(domain): State<Domain>,
    Path(token): Path<String>,
    headers: HeaderMap,
    content_type: &'static str,
    draw: impl FnOnce(&QrCode) -> anyhow::Result<Vec<u8>>,
) -> Result<Response, AppError> {
    // The shopper's page loads this; through the cache, the scan that follows finds
    // the order without reading it again.
    let order = domain.orders.by_token(&token).await?;
    let live = domain.tickets.for_order(order.id).await?;
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha1::digest(live.url.as_bytes()))[..16]
    );
    let max_age = ((live.expires_at_ms - MIN_REMAINING_MS - now_ms()) / 1000).max(0);
    let cache = format!("public, max-age={max_age}");
    if headers
        .get(IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(ETAG, etag), (CACHE_CONTROL, cache)],
        )
            .into_response());
    }
    let body = draw(&images::qr_code(&live.url)?)?;
    Ok((
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (ETAG, etag),
            (CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response())
}
