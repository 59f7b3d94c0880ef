//! HTTP: thin handlers that parse, call the domain and render. Each file owns its
//! routes; this one only merges them and adds the cross-cutting layers.

pub mod admin;
pub mod callback;
pub mod health;
pub mod limit;
pub mod openapi;
pub mod orders;
pub mod pages;
pub mod qrcode;

use axum::Router;
use tower_http::trace::TraceLayer;

use crate::AppState;

pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .merge(callback::router())
        .merge(openapi::router())
        .merge(qrcode::router())
        .merge(pages::router())
        .merge(health::router())
        .merge(admin::router());
    if let Some(sandbox) = &state.sandbox {
        app = app.merge(sandbox.router());
    }
    app.layer(TraceLayer::new_for_http()).with_state(state)
}
