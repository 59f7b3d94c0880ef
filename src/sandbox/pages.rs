//! The sandbox's own page templates (the phone, an inbox, the consent page), in the
//! service's look.

use axum::response::Html;
use minijinja::Environment;

use crate::AppError;

pub struct Pages {
    env: Environment<'static>,
}

/// Every template, by the name the sandbox renders it with.
const TEMPLATES: [(&str, &str); 4] = [
    ("base.html", include_str!("../../templates/base.html")),
    ("sandbox.html", include_str!("../../templates/sandbox.html")),
    (
        "sandbox_inbox.html",
        include_str!("../../templates/sandbox_inbox.html"),
    ),
    (
        "sandbox_consent.html",
        include_str!("../../templates/sandbox_consent.html"),
    ),
];

impl Pages {
    pub fn new() -> Self {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("sandbox templates compile");
        }
        Pages { env }
    }

    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Result<Html<String>, AppError> {
        let page = self.env.get_template(name).and_then(|t| t.render(ctx));
        page.map(Html)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering {name}: {e:#}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sandbox_template_compiles() {
        let pages = Pages::new();
        for (name, _) in TEMPLATES {
            assert!(pages.env.get_template(name).is_ok(), "{name}");
        }
    }
}
