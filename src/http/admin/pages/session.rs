//! Logging in with the admin token (a session cookie) and out.

use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use minijinja::context;
use serde::Deserialize;

use super::{AdminForm, NoFields};
use crate::http::admin::auth::COOKIE_NAME;
use crate::http::limit::Throttle;
use crate::http::web::Web;
use crate::quote::Domain;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
}

/// The login form, with the reason a try was refused.
pub fn login_page(
    web: &Web,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, AppError> {
    Ok((
        status,
        web.pages.render("admin_login.html", context! { error })?,
    )
        .into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    token: Option<String>,
}

/// The session cookie; `Secure` when the service is reached over https.
fn cookie(domain: &Domain, value: &str, max_age: i64) -> String {
    let secure = if domain.base_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

async fn login(
    _: Throttle,
    State(domain): State<Domain>,
    State(web): State<Web>,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let token = form.token.unwrap_or_default();
    if !web.admin.accepts(token.trim()) {
        tracing::warn!("admin login refused");
        return login_page(&web, StatusCode::UNAUTHORIZED, Some("令牌不正确"));
    }
    let session = web.admin.new_session();
    Ok((
        [(SET_COOKIE, cookie(&domain, &session, 12 * 3600))],
        Redirect::to("/admin"),
    )
        .into_response())
}

async fn logout(
    State(domain): State<Domain>,
    _: AdminForm<NoFields>,
) -> Result<Response, AppError> {
    Ok((
        [(SET_COOKIE, cookie(&domain, "", 0))],
        Redirect::to("/admin"),
    )
        .into_response())
}
