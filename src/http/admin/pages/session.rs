//! Logging in with the admin token (a session cookie) and out. A signed-out browser
//! that opened a console link is sent here with the link in `next`, and back to it
//! after logging in.

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::{AdminForm, NoFields};
use crate::http::admin::auth::COOKIE_NAME;
use crate::http::admin::sessions::SESSION_MS;
use crate::http::extract::Query;
use crate::http::limit::{Throttle, client_ip_from};
use crate::http::web::Web;
use crate::quote::Domain;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/login", get(show_login).post(login))
        .route("/admin/logout", post(logout))
}

/// The login form, with the reason a try was refused and where to go after.
pub fn login_page(
    web: &Web,
    status: StatusCode,
    error: Option<&str>,
    next: Option<&str>,
) -> Result<Response, AppError> {
    let next = next.and_then(safe_next);
    Ok((
        status,
        [("cache-control", "no-store")],
        web.pages
            .render("admin_login.html", context! { error, next })?,
    )
        .into_response())
}

/// `next` when it is a console page or download of this service, so a crafted link
/// cannot send the owner elsewhere after logging in.
fn safe_next(next: &str) -> Option<&str> {
    let local = (next.starts_with("/admin") || next.starts_with("/api/admin/"))
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    local.then_some(next)
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

async fn show_login(State(web): State<Web>, Query(q): Query<Next>) -> Result<Response, AppError> {
    login_page(&web, StatusCode::OK, None, q.next.as_deref())
}

#[derive(Deserialize)]
struct LoginForm {
    token: Option<String>,
    next: Option<String>,
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
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let form: LoginForm = crate::http::body::form(&body)?;
    let next = form.next.as_deref();
    let gate = &web.admin;
    let client = client_ip_from(&headers, Some(peer), web.config.trust_forwarded_for);
    if gate.failures.check(client).is_err() {
        return login_page(
            &web,
            StatusCode::TOO_MANY_REQUESTS,
            Some("尝试次数太多，请一分钟后再试"),
            next,
        );
    }
    let token = form.token.clone().unwrap_or_default();
    if !gate.key.accepts(token.trim()) {
        gate.failures.failed(client);
        return login_page(&web, StatusCode::UNAUTHORIZED, Some("令牌不正确"), next);
    }
    let (id, expires) = gate.sessions.open().await?;
    let value = gate.key.session_cookie(&id, expires);
    Ok((
        [(SET_COOKIE, cookie(&domain, &value, SESSION_MS / 1000))],
        Redirect::to(next.and_then(safe_next).unwrap_or("/admin")),
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
