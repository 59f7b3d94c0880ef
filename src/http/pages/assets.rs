//! The stylesheet, the default card picture and the embed script, all cacheable.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::{AppState, images};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/style.css", get(stylesheet))
        .route("/static/card.png", get(card_picture))
        .route("/embed.js", get(embed_script))
}

/// The embed a shop's page loads (see `static/embed.js`): cached for a short while, so
/// a new version reaches the shops' pages within minutes.
async fn embed_script() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../../static/embed.js"),
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../static/style.css"),
    )
}

/// The default card picture, drawn once.
async fn card_picture() -> Response {
    static CARD: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let bytes = CARD.get_or_init(|| {
        images::card_picture().unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not draw the card picture");
            Vec::new()
        })
    });
    (
        [
            (CONTENT_TYPE, "image/png"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        bytes.clone(),
    )
        .into_response()
}
