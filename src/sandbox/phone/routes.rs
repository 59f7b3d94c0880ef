//! The phone's pages and JSON: users, scans, inboxes, and the sandbox's settings,
//! stats and faults for tests.

use axum::Json;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::PushMode;
use crate::now_ms;
use crate::sandbox::{Fault, Received, Sandbox, Stats, User};

pub fn router() -> Router<Sandbox> {
    Router::new()
        .route("/", get(phone_home))
        .route("/users", post(create_user_form))
        .route("/scan", post(scan_form))
        .route("/phone/{openid}", get(inbox_page))
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/scan", post(scan_json))
        .route("/unsubscribe", post(unsubscribe_form))
        .route("/api/unsubscribe", post(unsubscribe_json))
        .route("/api/users/{openid}/inbox", get(inbox_json))
        .route("/api/stats", get(stats))
        .route("/api/faults", post(add_fault).delete(clear_faults))
        .route("/api/settings", post(change_settings))
}

#[derive(Deserialize)]
pub struct HomeQuery {
    ticket: Option<String>,
}

pub async fn phone_home(
    State(sandbox): State<Sandbox>,
    Query(q): Query<HomeQuery>,
) -> Result<Html<String>, crate::AppError> {
    let (users, mut tickets, pushes) = {
        let world = sandbox.world();
        let now = now_ms();
        let tickets: Vec<_> = world
            .tickets
            .values()
            .filter(|t| t.expires_at_ms.is_none_or(|e| e > now))
            .cloned()
            .collect();
        let pushes: Vec<_> = world.pushes.iter().rev().take(10).cloned().collect();
        (
            world.users.values().cloned().collect::<Vec<_>>(),
            tickets,
            pushes,
        )
    };
    // The ticket the visitor came for first, then the newest.
    tickets.sort_by_key(|t| {
        (
            Some(&t.ticket) != q.ticket.as_ref(),
            std::cmp::Reverse(t.expires_at_ms),
        )
    });
    sandbox.inner.pages.render(
        "sandbox.html",
        context! { users, tickets, pushes, selected => q.ticket, callback => sandbox.inner.callback.as_str(), api_base => sandbox.inner.api_base.as_str() },
    )
}

#[derive(Deserialize)]
struct NewUser {
    nickname: Option<String>,
    /// Following the account already (a form's checkbox sends `1`).
    following: Option<serde_json::Value>,
}

impl NewUser {
    fn following(&self) -> bool {
        matches!(&self.following, Some(serde_json::Value::Bool(true)))
            || matches!(&self.following, Some(serde_json::Value::String(s)) if s == "1" || s == "on")
    }
}

fn nickname(input: Option<String>) -> Result<String, String> {
    let name = input.unwrap_or_default().trim().to_owned();
    if name.is_empty() || name.chars().count() > 32 {
        return Err("昵称须为 1 到 32 个字符".into());
    }
    Ok(name)
}

async fn create_user_form(State(sandbox): State<Sandbox>, Form(form): Form<NewUser>) -> Response {
    let following = form.following();
    match nickname(form.nickname) {
        Ok(name) => {
            sandbox.add_user(&name, following);
            Redirect::to("/sandbox/").into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn create_user(State(sandbox): State<Sandbox>, Json(form): Json<NewUser>) -> Response {
    let following = form.following();
    match nickname(form.nickname) {
        Ok(name) => (
            StatusCode::CREATED,
            Json(sandbox.add_user(&name, following)),
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

async fn list_users(State(sandbox): State<Sandbox>) -> Json<Vec<User>> {
    Json(sandbox.users())
}

#[derive(Deserialize)]
struct ScanRequest {
    openid: String,
    ticket: String,
    mode: Option<PushMode>,
}

async fn scan_form(State(sandbox): State<Sandbox>, Form(req): Form<ScanRequest>) -> Response {
    match sandbox.scan(&req.openid, &req.ticket, req.mode).await {
        Ok(_) => Redirect::to(&format!("/sandbox/phone/{}", req.openid)).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn scan_json(State(sandbox): State<Sandbox>, Json(req): Json<ScanRequest>) -> Response {
    match sandbox.scan(&req.openid, &req.ticket, req.mode).await {
        Ok(result) => Json(result).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

#[derive(Deserialize)]
struct Leaving {
    openid: String,
}

async fn unsubscribe_form(State(sandbox): State<Sandbox>, Form(req): Form<Leaving>) -> Response {
    match sandbox.unsubscribe(&req.openid).await {
        Ok(_) => Redirect::to("/sandbox/").into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn unsubscribe_json(State(sandbox): State<Sandbox>, Json(req): Json<Leaving>) -> Response {
    match sandbox.unsubscribe(&req.openid).await {
        Ok(outcome) => Json(json!({ "outcome": outcome })).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

async fn inbox_json(
    State(sandbox): State<Sandbox>,
    Path(openid): Path<String>,
) -> Json<Vec<Received>> {
    Json(sandbox.inbox(&openid))
}

async fn inbox_page(
    State(sandbox): State<Sandbox>,
    Path(openid): Path<String>,
) -> Result<Response, crate::AppError> {
    let Some(user) = sandbox.users().into_iter().find(|u| u.openid == openid) else {
        return Ok((StatusCode::NOT_FOUND, "沙盒里没有这个用户").into_response());
    };
    let mut messages = sandbox.inbox(&openid);
    messages.reverse();
    Ok(sandbox
        .inner
        .pages
        .render("sandbox_inbox.html", context! { user, messages })?
        .into_response())
}

async fn stats(State(sandbox): State<Sandbox>) -> Json<Stats> {
    Json(sandbox.stats())
}

async fn add_fault(State(sandbox): State<Sandbox>, Json(fault): Json<Fault>) -> Response {
    match sandbox.add_fault(fault) {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

async fn clear_faults(State(sandbox): State<Sandbox>) -> StatusCode {
    sandbox.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Settings {
    open_recipients: Option<bool>,
}

async fn change_settings(
    State(sandbox): State<Sandbox>,
    Json(settings): Json<Settings>,
) -> StatusCode {
    if let Some(open) = settings.open_recipients {
        sandbox.set_open_recipients(open);
    }
    StatusCode::NO_CONTENT
}
