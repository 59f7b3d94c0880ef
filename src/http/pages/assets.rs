//! The stylesheet, the default card picture and the embed script, all cacheable.

use axum::Router;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::quote::Domain;
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

/// The default card picture, with the shop's name: drawn once per name (a rename
/// draws it again).
async fn card_picture(State(domain): State<Domain>) -> Response {
    static CARD: std::sync::Mutex<Option<(Option<String>, Vec<u8>)>> = std::sync::Mutex::new(None);
    let name = match domain.shop.current().await {
        Ok(shop) => shop.as_ref().as_ref().map(|s| s.name.clone()),
        Err(e) => return crate::AppError::from(e).into_response(),
    };
    let cached = CARD
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .filter(|(drawn_for, _)| *drawn_for == name)
        .map(|(_, png)| png.clone());
    let bytes = match cached {
        Some(png) => png,
        None => {
            let name_for = name.clone();
            let drawn =
                tokio::task::spawn_blocking(move || images::card_picture(name_for.as_deref()))
                    .await;
            match drawn {
                Ok(Ok(png)) => {
                    *CARD.lock().unwrap_or_else(|p| p.into_inner()) = Some((name, png.clone()));
                    png
                }
                Ok(Err(e)) => return crate::AppError::Internal(e).into_response(),
                Err(e) => return crate::AppError::Internal(e.into()).into_response(),
            }
        }
    };
    (
        [
            (CONTENT_TYPE, "image/png"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        bytes,
    )
        .into_response()
}
