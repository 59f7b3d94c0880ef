//! Logging in with the admin token (a session cookie) and out.

use axum::Router;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use minijinja::context;
use serde::Deserialize;

use super::{AdminForm, NoFields};
use crate::http::admin::auth::COOKIE_NAME;
use crate::http::admin::sessions::SESSION_MS;
use crate::http::limit::{Throttle, client_ip_from};
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
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let gate = &web.admin;
    let client = client_ip_from(&headers, Some(peer), web.config.trust_forwarded_for);
    if gate.failures.check(client).is_err() {
        return login_page(
            &web,
            StatusCode::TOO_MANY_REQUESTS,
            Some("尝试次数太多，请一分钟后再试"),
        );
    }
    let token = form.token.unwrap_or_default();
    if !gate.key.accepts(token.trim()) {
        gate.failures.failed(client);
        return login_page(&web, StatusCode::UNAUTHORIZED, Some("令牌不正确"));
    }
    let (id, expires) = gate.sessions.open().await?;
    let value = gate.key.session_cookie(&id, expires);
    Ok((
        [(SET_COOKIE, cookie(&domain, &value, SESSION_MS / 1000))],
        Redirect::to("/admin"),
    )
        .into_response())
}

async fn logout(
    State(domain): State<Domain>,
    State(web): State<Web>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Result<Response, AppError> {
    if let Some(id) = admin.session() {
        web.admin.sessions.end(id).await?;
    }
    Ok((
        [(SET_COOKIE, cookie(&domain, "", 0))],
        Redirect::to("/admin"),
    )
        .into_response())
}
