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
use super::{ACCOUNT, PushRecord, Received, Sandbox};
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
        .route("/api/faults", post(add_fault).delete(clear_faults))
        .route("/api/settings", post(change_settings))
}

/// WeChat tries a push three times when the callback does not answer.
const TRIES: u32 = 3;

#[derive(Debug, Serialize)]
pub struct ScanResult {
    pub event: String,
    pub event_key: String,
    /// `plaintext`, `compatible` or `safe`.
    pub mode: &'static str,
    /// HTTP status of the callback's last answer, or the transport error.
    pub outcome: String,
    pub tries: u32,
    /// The callback's body: `success`, or a passive reply (sealed in AES mode).
    pub reply: String,
    /// The passive reply as the phone shows it, after checking and opening the seal.
    pub reply_text: Option<String>,
}

/// How WeChat sends pushes: the account's message mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushMode {
    Plaintext,
    Compatible,
    Safe,
}

impl PushMode {
    fn name(self) -> &'static str {
        match self {
            PushMode::Plaintext => "plaintext",
            PushMode::Compatible => "compatible",
            PushMode::Safe => "safe",
        }
    }
}

impl Sandbox {
    /// The user scans the code of `ticket` with WeChat. `mode` defaults to the service's
    /// own: safe mode when it has an AES key, plaintext otherwise.
    pub async fn scan(
        &self,
        openid: &str,
        ticket: &str,
        mode: Option<PushMode>,
    ) -> Result<ScanResult, String> {
        let mode = match (mode, &self.inner.crypto) {
            (Some(PushMode::Compatible | PushMode::Safe), None) => {
                return Err(
                    "the service has no WECHAT_ENCODING_AES_KEY: only plaintext pushes".into(),
                );
            }
            (Some(mode), _) => mode,
            (None, Some(_)) => PushMode::Safe,
            (None, None) => PushMode::Plaintext,
        };
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
        let (outcome, tries, reply) = self.push(openid, &xml, mode).await;
        let reply_text = self.open_reply(openid, &reply);
        let result = ScanResult {
            event,
            event_key,
            mode: mode.name(),
            outcome,
            tries,
            reply,
            reply_text,
        };
        self.world().pushes.push(PushRecord {
            openid: openid.to_owned(),
            event: result.event.clone(),
            event_key: result.event_key.clone(),
            tries: result.tries,
            outcome: result.outcome.clone(),
            reply: result
                .reply_text
                .clone()
                .unwrap_or_else(|| result.reply.clone()),
        });
        Ok(result)
    }

    /// Sends one push as WeChat does: signed query (and `msg_signature` over the
    /// ciphertext in AES modes), 5-second timeout, up to 3 tries while the callback does
    /// not answer (or answers 5xx).
    async fn push(&self, openid: &str, xml: &str, mode: PushMode) -> (String, u32, String) {
        let token = self.inner.token.expose_secret();
        let encrypted = match (&self.inner.crypto, mode) {
            (Some(crypto), PushMode::Safe | PushMode::Compatible) => Some(crypto.encrypt(xml)),
            _ => None,
        };
        let body = match (&encrypted, mode) {
            (Some(e), PushMode::Safe) => {
                format!(
                    "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{e}]]></Encrypt></xml>"
                )
            }
            (Some(e), PushMode::Compatible) => xml.replace(
                "</xml>",
                &format!("<Encrypt><![CDATA[{e}]]></Encrypt></xml>"),
            ),
            _ => xml.to_owned(),
        };
        let mut last = String::new();
        for attempt in 1..=TRIES {
            let timestamp = (now_ms() / 1000).to_string();
            let nonce = rand::thread_rng()
                .gen_range(100_000_000u32..999_999_999)
                .to_string();
            let sig = signature::sign(&[token, &timestamp, &nonce]);
            let mut query = vec![
                ("signature", sig),
                ("timestamp", timestamp.clone()),
                ("nonce", nonce.clone()),
                ("openid", openid.to_owned()),
            ];
            if let Some(e) = &encrypted {
                query.push(("encrypt_type", "aes".into()));
                query.push((
                    "msg_signature",
                    signature::sign(&[token, &timestamp, &nonce, e]),
                ));
            }
            let sent = self
                .inner
                .http
                .post(self.inner.callback.clone())
                .query(&query)
                .header("content-type", "text/xml")
                .body(body.clone())
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

    /// Opens a passive reply as the phone would (checking the seal in AES mode) and puts
    /// it in the user's inbox. `success` and empty answers are no reply.
    fn open_reply(&self, openid: &str, body: &str) -> Option<String> {
        let body = body.trim();
        if body.is_empty() || body == "success" || !body.starts_with("<xml>") {
            return None;
        }
        let xml = match sealed_reply(body) {
            Some(sealed) => {
                let crypto = self.inner.crypto.as_ref()?;
                let token = self.inner.token.expose_secret();
                if !signature::verify(
                    &sealed.msg_signature,
                    &[token, &sealed.timestamp, &sealed.nonce, &sealed.encrypt],
                ) {
                    return Some("(reply refused: MsgSignature does not hold)".into());
                }
                match crypto.decrypt(&sealed.encrypt) {
                    Ok(xml) => xml,
                    Err(e) => return Some(format!("(reply refused: {e})")),
                }
            }
            None => body.to_owned(),
        };
        let reply: PassiveReply = quick_xml::de::from_str(&xml).ok()?;
        if reply.to_user_name != openid {
            return Some("(reply refused: ToUserName is another user)".into());
        }
        let (title, description, url, picurl) = match reply.msg_type.as_str() {
            "text" => (
                String::new(),
                reply.content.unwrap_or_default(),
                String::new(),
                String::new(),
            ),
            "news" => {
                let items = reply.articles.map(|a| a.item).unwrap_or_default();
                if items.len() != 1 || reply.article_count != Some(1) {
                    return Some(
                        "(reply refused: a news reply carries exactly one article)".into(),
                    );
                }
                let a = items.into_iter().next().expect("one article");
                (a.title, a.description, a.url, a.pic_url)
            }
            other => return Some(format!("(reply of unsupported type {other})")),
        };
        let shown = if title.is_empty() {
            description.clone()
        } else {
            title.clone()
        };
        self.world().inbox.push(Received {
            openid: openid.to_owned(),
            msgtype: reply.msg_type,
            title,
            description,
            url,
            picurl,
            at_ms: now_ms(),
            via: "passive".into(),
        });
        Some(shown)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SealedReply {
    encrypt: String,
    msg_signature: String,
    time_stamp: String,
    nonce: String,
}

struct Sealed {
    encrypt: String,
    msg_signature: String,
    timestamp: String,
    nonce: String,
}

fn sealed_reply(body: &str) -> Option<Sealed> {
    let s: SealedReply = quick_xml::de::from_str(body).ok()?;
    Some(Sealed {
        encrypt: s.encrypt,
        msg_signature: s.msg_signature,
        timestamp: s.time_stamp,
        nonce: s.nonce,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PassiveReply {
    to_user_name: String,
    msg_type: String,
    content: Option<String>,
    article_count: Option<u32>,
    articles: Option<ReplyArticles>,
}

#[derive(Deserialize)]
struct ReplyArticles {
    #[serde(default)]
    item: Vec<ReplyArticle>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReplyArticle {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    pic_url: String,
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
    mode: Option<PushMode>,
}

async fn scan_form(State(state): State<AppState>, Form(req): Form<ScanRequest>) -> Response {
    match sandbox(&state)
        .scan(&req.openid, &req.ticket, req.mode)
        .await
    {
        Ok(_) => Redirect::to(&format!("/sandbox/phone/{}", req.openid)).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn scan_json(State(state): State<AppState>, Json(req): Json<ScanRequest>) -> Response {
    match sandbox(&state)
        .scan(&req.openid, &req.ticket, req.mode)
        .await
    {
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

async fn add_fault(State(state): State<AppState>, Json(fault): Json<super::Fault>) -> Response {
    match sandbox(&state).add_fault(fault) {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    sandbox(&state).clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Settings {
    open_recipients: Option<bool>,
}

async fn change_settings(
    State(state): State<AppState>,
    Json(settings): Json<Settings>,
) -> StatusCode {
    if let Some(open) = settings.open_recipients {
        sandbox(&state).set_open_recipients(open);
    }
    StatusCode::NO_CONTENT
}
