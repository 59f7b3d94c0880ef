//! The OpenAPI 3 document of the JSON API. The API routers are utoipa-axum
//! `OpenApiRouter`s, which register each route together with its `#[utoipa::path]`
//! description; `http::router` merges them over [`document`] and serves what they
//! collected at `/api/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "scanquote", description = "Keep a price quote by scanning a WeChat QR code."),
    modifiers(&AdminBearer),
    tags((name = "orders", description = "Orders (the shop's server, with its site key) and their QR codes (the shopper, by the order's token)"),
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
        components.add_security_scheme(
            "site_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A site key (sk_…) from POST /api/admin/site-keys"))
                    .build(),
            ),
        );
    }
}

/// The document's head (info, tags, security schemes), before the routes are added.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
