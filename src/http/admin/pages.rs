//! The console's pages: login, and a dashboard of deliveries and scene replies.

use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::auth::{Admin, COOKIE_NAME};
use crate::http::limit::Throttle;
use crate::quote::deliveries::{recent_deliveries, status_counts};
use crate::replies::{list_replies, save_reply};
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/scene-replies", post(add_scene_reply))
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, AppError> {
    Ok((
        status,
        state.pages.render("admin_login.html", context! { error })?,
    )
        .into_response())
}

async fn dashboard(
    admin: Result<Admin, AppError>,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    let Ok(admin) = admin else {
        return login_page(&state, StatusCode::OK, None);
    };
    render_dashboard(&state, &admin, None).await
}

async fn render_dashboard(
    state: &AppState,
    admin: &Admin,
    error: Option<String>,
) -> Result<Response, AppError> {
    let page: Html<String> = state.pages.render(
        "admin.html",
        context! {
            csrf => admin.csrf(),
            counts => status_counts(&state.db).await?,
            deliveries => recent_deliveries(&state.db, None, 20).await?,
            replies => list_replies(&state.db).await?,
            error,
        },
    )?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, [("cache-control", "no-store")], page).into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    token: Option<String>,
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = if state.base_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

async fn login(
    _: Throttle,
    State(state): State<AppState>,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let token = form.token.unwrap_or_default();
    if !state.admin.accepts(token.trim()) {
        tracing::warn!("admin login refused");
        return login_page(&state, StatusCode::UNAUTHORIZED, Some("令牌不正确"));
    }
    let session = state.admin.new_session();
    Ok((
        [(SET_COOKIE, cookie(&state, &session, 12 * 3600))],
        Redirect::to("/admin"),
    )
        .into_response())
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn logout(
    admin: Admin,
    State(state): State<AppState>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    admin.check_csrf(form.csrf.as_deref())?;
    Ok((
        [(SET_COOKIE, cookie(&state, "", 0))],
        Redirect::to("/admin"),
    )
        .into_response())
}

#[derive(Deserialize)]
struct ReplyForm {
    csrf: Option<String>,
    scene: Option<String>,
    text: Option<String>,
}

async fn add_scene_reply(
    admin: Admin,
    State(state): State<AppState>,
    Form(form): Form<ReplyForm>,
) -> Result<Response, AppError> {
    admin.check_csrf(form.csrf.as_deref())?;
    let scene = form.scene.unwrap_or_default();
    match save_reply(&state, scene.trim(), &form.text.unwrap_or_default()).await {
        Ok(_) => Ok(Redirect::to("/admin").into_response()),
        Err(AppError::BadRequest { field, reason }) => {
            render_dashboard(
                &state,
                &admin,
                Some(format!("{}: {reason}", field.unwrap_or("input"))),
            )
            .await
        }
        Err(e) => Err(e),
    }
}
