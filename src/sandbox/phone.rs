//! The sandbox's phone: users, scanning a ticket (which pushes a signed event to the
//! callback, as WeChat does) and each user's inbox. Pages for people, JSON for tests.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use rand::Rng;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::api::sandbox;
use super::{ACCOUNT, PushRecord, Sandbox};
use crate::wechat::signature;
use crate::{AppState, now_ms};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(phone_home))
        .route("/users", post(create_user_form))
        .route("/scan", post(scan_form))
        .route("/phone/{openid}", get(inbox_page))
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/scan", post(scan_json))
        .route("/api/users/{openid}/inbox", get(inbox_json))
        .route("/api/stats", get(stats))
}

/// WeChat tries a push three times when the callback does not answer.
const TRIES: u32 = 3;

#[derive(Debug, Serialize)]
pub struct ScanResult {
    pub event: String,
    pub event_key: String,
    /// HTTP status of the callback's last answer, or the transport error.
    pub outcome: String,
    pub tries: u32,
    /// The callback's body: `success`, or a passive reply.
    pub reply: String,
}

impl Sandbox {
    /// The user scans the code of `ticket` with WeChat.
    pub async fn scan(&self, openid: &str, ticket: &str) -> Result<ScanResult, String> {
        let (xml, event, event_key) = {
            let mut world = self.world();
            let now = now_ms();
            let code = world
                .tickets
                .get(ticket)
                .cloned()
                .ok_or("unknown ticket: scan a code this sandbox created")?;
            if code.expires_at_ms.is_some_and(|e| e <= now) {
                return Err("this QR code has expired".into());
            }
            let user = world.users.get_mut(openid).ok_or("unknown sandbox user")?;
            let new_follower = !user.following;
            let (event, event_key) = if new_follower {
                ("subscribe", format!("qrscene_{}", code.scene))
            } else {
                ("SCAN", code.scene.clone())
            };
            // The event opens the window in which the account may answer.
            user.following = true;
            if new_follower {
                user.subscribe_time = now / 1000;
            }
            user.window_opened_ms = now;
            user.window_used = 0;
            world.stats.pushes += 1;
            let xml = format!(
                "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\
                 <FromUserName><![CDATA[{openid}]]></FromUserName>\
                 <CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                 <Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{event_key}]]></EventKey>\
                 <Ticket><![CDATA[{ticket}]]></Ticket></xml>",
                now / 1000
            );
            (xml, event.to_owned(), event_key)
        };
        let (outcome, tries, reply) = self.push(openid, xml).await;
        let result = ScanResult {
            event,
            event_key,
            outcome,
            tries,
            reply,
        };
        self.world().pushes.push(PushRecord {
            openid: openid.to_owned(),
            event: result.event.clone(),
            event_key: result.event_key.clone(),
            tries: result.tries,
            outcome: result.outcome.clone(),
            reply: result.reply.clone(),
        });
        Ok(result)
    }

    /// Sends one push as WeChat does: signed query, 5-second timeout, up to 3 tries
    /// while the callback does not answer (or answers 5xx).
    async fn push(&self, openid: &str, xml: String) -> (String, u32, String) {
        let mut last = String::new();
        for attempt in 1..=TRIES {
            let timestamp = (now_ms() / 1000).to_string();
            let nonce = rand::thread_rng()
                .gen_range(100_000_000u32..999_999_999)
                .to_string();
            let sig = signature::sign(&[self.inner.token.expose_secret(), &timestamp, &nonce]);
            let sent = self
                .inner
                .http
                .post(self.inner.callback.clone())
                .query(&[
                    ("signature", sig.as_str()),
                    ("timestamp", &timestamp),
                    ("nonce", &nonce),
                    ("openid", openid),
                ])
                .header("content-type", "text/xml")
                .body(xml.clone())
                .send()
                .await;
            match sent {
                Ok(answer) if !answer.status().is_server_error() => {
                    let status = answer.status().as_u16().to_string();
                    let body = answer.text().await.unwrap_or_default();
                    return (status, attempt, body);
                }
                Ok(answer) => last = answer.status().as_u16().to_string(),
                Err(e) => last = e.without_url().to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        (last, TRIES, String::new())
    }
}

#[derive(Deserialize)]
pub(super) struct HomeQuery {
    ticket: Option<String>,
}

pub(super) async fn phone_home(
    State(state): State<AppState>,
    Query(q): Query<HomeQuery>,
) -> Result<Html<String>, crate::AppError> {
    let sandbox = sandbox(&state);
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
    state.pages.render(
        "sandbox.html",
        context! { users, tickets, pushes, selected => q.ticket, callback => sandbox.inner.callback.as_str(), api_base => sandbox.inner.api_base.as_str() },
    )
}

#[derive(Deserialize)]
struct NewUser {
    nickname: Option<String>,
}

fn nickname(input: Option<String>) -> Result<String, String> {
    let name = input.unwrap_or_default().trim().to_owned();
    if name.is_empty() || name.chars().count() > 32 {
        return Err("nickname must be 1 to 32 characters".into());
    }
    Ok(name)
}

async fn create_user_form(State(state): State<AppState>, Form(form): Form<NewUser>) -> Response {
    match nickname(form.nickname) {
        Ok(name) => {
            sandbox(&state).add_user(&name);
            Redirect::to("/sandbox/").into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn create_user(State(state): State<AppState>, Json(form): Json<NewUser>) -> Response {
    match nickname(form.nickname) {
        Ok(name) => (StatusCode::CREATED, Json(sandbox(&state).add_user(&name))).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

async fn list_users(State(state): State<AppState>) -> Json<Vec<super::User>> {
    Json(sandbox(&state).users())
}

#[derive(Deserialize)]
struct ScanRequest {
    openid: String,
    ticket: String,
}

async fn scan_form(State(state): State<AppState>, Form(req): Form<ScanRequest>) -> Response {
    match sandbox(&state).scan(&req.openid, &req.ticket).await {
        Ok(_) => Redirect::to(&format!("/sandbox/phone/{}", req.openid)).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn scan_json(State(state): State<AppState>, Json(req): Json<ScanRequest>) -> Response {
    match sandbox(&state).scan(&req.openid, &req.ticket).await {
        Ok(result) => Json(result).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

async fn inbox_json(
    State(state): State<AppState>,
    Path(openid): Path<String>,
) -> Json<Vec<super::Received>> {
    Json(sandbox(&state).inbox(&openid))
}

async fn inbox_page(
    State(state): State<AppState>,
    Path(openid): Path<String>,
) -> Result<Response, crate::AppError> {
    let sandbox = sandbox(&state);
    let Some(user) = sandbox.users().into_iter().find(|u| u.openid == openid) else {
        return Ok((StatusCode::NOT_FOUND, "unknown sandbox user").into_response());
    };
    let mut messages = sandbox.inbox(&openid);
    messages.reverse();
    Ok(state
        .pages
        .render("sandbox_inbox.html", context! { user, messages })?
        .into_response())
}

async fn stats(State(state): State<AppState>) -> Json<super::Stats> {
    Json(sandbox(&state).stats())
}
