//! The OpenAPI 3 document of the JSON API, generated from the handlers themselves: the
//! API routers are utoipa-axum `OpenApiRouter`s, which register each route together
//! with its `#[utoipa::path]` description, and this module serves what they collected.

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// Every error answer: what went wrong and, for bad input, which field.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub field: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "scanquote", description = "Keep a price quote by scanning a WeChat QR code."),
    modifiers(&AdminBearer),
    tags((name = "orders", description = "Orders and their QR codes (public)"),
         (name = "admin", description = "The site owner's console (bearer ADMIN_TOKEN)"))
)]
struct ApiDoc;

struct AdminBearer;

impl Modify for AdminBearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The JSON API with its document, served at `/api/openapi.json`.
pub fn router() -> Router<AppState> {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(super::orders::router())
        .merge(super::admin::api::router())
        .split_for_parts();
    let json = serde_json::to_value(&doc).expect("the document serializes");
    router.route(
        "/api/openapi.json",
        get(move || async move { Json(json.clone()) }),
    )
}
