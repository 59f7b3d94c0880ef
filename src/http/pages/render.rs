//! The page templates (minijinja, compiled once from `templates/`), and the pages every
//! handler may answer with.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, context};

use crate::AppError;

/// The page templates, compiled once.
#[derive(Clone)]
pub struct Pages {
    env: Arc<Environment<'static>>,
}

/// Every template, by the name pages render it with.
const TEMPLATES: [(&str, &str); 17] = [
    ("base.html", include_str!("../../../templates/base.html")),
    ("index.html", include_str!("../../../templates/index.html")),
    ("order.html", include_str!("../../../templates/order.html")),
    ("quote.html", include_str!("../../../templates/quote.html")),
    (
        "not_found.html",
        include_str!("../../../templates/not_found.html"),
    ),
    ("admin.html", include_str!("../../../templates/admin.html")),
    (
        "admin_login.html",
        include_str!("../../../templates/admin_login.html"),
    ),
    (
        "admin_site.html",
        include_str!("../../../templates/admin_site.html"),
    ),
    (
        "admin_base.html",
        include_str!("../../../templates/admin_base.html"),
    ),
    (
        "admin_template.html",
        include_str!("../../../templates/admin_template.html"),
    ),
    (
        "admin_deliveries.html",
        include_str!("../../../templates/admin_deliveries.html"),
    ),
    (
        "admin_channel_codes.html",
        include_str!("../../../templates/admin_channel_codes.html"),
    ),
    (
        "admin_channel_code.html",
        include_str!("../../../templates/admin_channel_code.html"),
    ),
    (
        "admin_channel_compare.html",
        include_str!("../../../templates/admin_channel_compare.html"),
    ),
    (
        "_channel_settings.html",
        include_str!("../../../templates/_channel_settings.html"),
    ),
    (
        "admin_shop.html",
        include_str!("../../../templates/admin_shop.html"),
    ),
    (
        "admin_settings.html",
        include_str!("../../../templates/admin_settings.html"),
    ),
];

impl Pages {
    pub fn new() -> Self {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("page templates compile");
        }
        Pages { env: Arc::new(env) }
    }

    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Result<Html<String>, AppError> {
        let page = self.env.get_template(name).and_then(|t| t.render(ctx));
        page.map(Html)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering {name}: {e:#}")))
    }

    /// The friendly 404 page (the API answers JSON instead), with the shop's name and
    /// phone when they are known.
    pub fn not_found(&self, shop: Option<minijinja::Value>) -> Response {
        match self.render("not_found.html", context! { shop }) {
            Ok(page) => (StatusCode::NOT_FOUND, page).into_response(),
            Err(e) => e.into_response(),
        }
    }
}

impl Default for Pages {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_template_compiles() {
        let pages = Pages::new();
        for (name, _) in TEMPLATES {
            assert!(pages.env.get_template(name).is_ok(), "{name}");
        }
    }
}
