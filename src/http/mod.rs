//! HTTP: thin handlers that parse, call the domain and render.
//!
//! Every route is mounted here, in [`router`], and nowhere else: each file owns its
//! routes (`router()` next to its handlers) and this module merges them, the JSON API
//! together with its OpenAPI description. Layout: [`callback`] (WeChat's pushes),
//! [`orders`] and [`qrcode`] (the public order API and code images), [`pages`] (the
//! shopper's pages), [`admin`] (the console and its API), [`health`] (`/healthz`,
//! `/metrics`); [`web`] is the state only the web side needs, [`limit`] the per-client
//! rate limit, [`error`] how errors are answered, [`openapi`] the document's head,
//! [`serve`] the server loop with its connection limits.

pub mod admin;
pub mod body;
pub mod callback;
pub mod csv;
pub mod error;
pub mod extract;
pub mod health;
pub mod limit;
pub mod openapi;
pub mod orders;
pub mod pages;
pub mod qrcode;
pub mod query;
pub mod serve;
pub mod site_key;
pub mod time;
pub mod web;

use axum::routing::get;
use axum::{Json, Router};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    let (api, doc) = OpenApiRouter::with_openapi(openapi::document())
        .merge(orders::keyed_router())
        .merge(orders::public_router(&state.web.config.embed_origins))
        .merge(admin::api::deliveries::router())
        .merge(admin::api::template::router())
        .merge(admin::api::channel_codes::router())
        .merge(admin::api::settings::router())
        .merge(admin::api::integration::router())
        .split_for_parts();
    let doc = serde_json::to_value(&doc).expect("the document serializes");
    let mut app = Router::new()
        .merge(api)
        .route(
            "/api/openapi.json",
            get(move || async move { Json(doc.clone()) }),
        )
        .merge(callback::router(state.domain.metrics.clone()))
        .merge(qrcode::router())
        .merge(pages::shop::router())
        .merge(pages::quote::router())
        .merge(pages::assets::router())
        .merge(admin::pages::dashboard::router())
        .merge(admin::pages::session::router())
        .merge(admin::pages::template::router())
        .merge(admin::pages::deliveries::router())
        .merge(admin::pages::channel_codes::router())
        .merge(admin::pages::channel_code::router())
        .merge(admin::pages::settings::router())
        .merge(admin::pages::integration::router())
        .merge(admin::pages::shop::router())
        .merge(health::router());
    if let Some(sandbox) = &state.sandbox {
        app = app.merge(sandbox.router().with_state(sandbox.clone()));
    }
    app.fallback(not_found)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Any path no route has: the API answers its JSON error, a person gets the shop's 404
/// page.
/// What an `/api/` path no route serves answers (a route's own 404 says what it did
/// not find).
pub const NO_SUCH_API: &str = "没有这个接口";

async fn not_found(
    axum::extract::State(app): axum::extract::State<AppState>,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        let body = axum::Json(serde_json::json!({ "error": NO_SUCH_API }));
        return (axum::http::StatusCode::NOT_FOUND, body).into_response();
    }
    let shop = match app.domain.shop.current().await {
        Ok(shop) => shop,
        Err(e) => return crate::AppError::from(e).into_response(),
    };
    app.web.pages.not_found(pages::figures::shop_context(&shop))
}
