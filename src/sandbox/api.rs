//! The sandbox's WeChat API, answering as WeChat does: HTTP 200 with JSON, `errcode`
//! and `errmsg` on failure.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::distributions::Alphanumeric;
use rand::{Rng, RngCore};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Received, Sandbox, TOKEN_SECONDS, Ticket, User, WINDOW_MESSAGES, WINDOW_MS, World};
use crate::{AppState, now_ms};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cgi-bin/token", get(token))
        .route("/cgi-bin/stable_token", post(stable_token))
        .route("/cgi-bin/qrcode/create", post(create_qrcode))
        .route("/cgi-bin/showqrcode", get(show_qrcode))
        .route("/cgi-bin/message/custom/send", post(custom_send))
        .route("/cgi-bin/user/info", get(user_info))
}

/// Each API first passes fault injection, which also counts the call.
macro_rules! with_faults {
    ($name:ident, $answer:ident, $api:literal, ($($arg:ident: $ty:ty),*)) => {
        async fn $name(State(state): State<AppState>, $($arg: $ty),*) -> Response {
            if let Some(injected) = sandbox(&state).inject($api).await {
                return injected;
            }
            $answer(State(state), $($arg),*).await.into_response()
        }
    };
}

with_faults!(token, token_answer, "token", (q: Query<TokenQuery>));
with_faults!(stable_token, stable_token_answer, "stable_token", (body: Bytes));
with_faults!(create_qrcode, create_qrcode_answer, "qrcode_create", (q: Query<AccessQuery>, body: Bytes));
with_faults!(custom_send, custom_send_answer, "custom_send", (q: Query<AccessQuery>, body: Bytes));
with_faults!(user_info, user_info_answer, "user_info", (q: Query<UserQuery>));

pub(super) fn sandbox(state: &AppState) -> &Sandbox {
    state
        .sandbox
        .as_ref()
        .expect("sandbox routes are mounted only in sandbox mode")
}

fn error(errcode: i64, errmsg: &str) -> Json<Value> {
    Json(json!({ "errcode": errcode, "errmsg": errmsg }))
}

fn random_token() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(64)
        .map(char::from)
        .collect()
}

impl World {
    fn check_token(&self, token: Option<&str>) -> Result<(), Json<Value>> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| error(41001, "access_token missing"))?;
        match self.tokens.get(token) {
            Some(expires) if *expires > now_ms() => Ok(()),
            Some(_) => Err(error(42001, "access_token expired")),
            None => Err(error(
                40001,
                "invalid credential, access_token is invalid or not latest",
            )),
        }
    }

    fn issue_token(&mut self) -> (String, i64) {
        let now = now_ms();
        let token = random_token();
        let expires = now + TOKEN_SECONDS * 1000;
        self.tokens.insert(token.clone(), expires);
        (token, expires)
    }
}

#[derive(Deserialize)]
struct AccessQuery {
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenQuery {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
}

impl Sandbox {
    fn check_credentials(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
    ) -> Result<(), Json<Value>> {
        if grant_type != Some("client_credential") {
            return Err(error(40002, "invalid grant_type"));
        }
        if appid != Some(self.inner.app_id.as_str()) {
            return Err(error(40013, "invalid appid"));
        }
        if secret != Some(self.inner.app_secret.expose_secret()) {
            return Err(error(40125, "invalid appsecret"));
        }
        Ok(())
    }
}

/// Classic tokens: every call issues a new one, and the previous ones keep working for
/// five more minutes only.
async fn token_answer(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Json<Value> {
    let sandbox = sandbox(&state);
    if let Err(e) = sandbox.check_credentials(
        q.grant_type.as_deref(),
        q.appid.as_deref(),
        q.secret.as_deref(),
    ) {
        return e;
    }
    let mut world = sandbox.world();
    let grace = now_ms() + 5 * 60 * 1000;
    for expires in world.tokens.values_mut() {
        *expires = (*expires).min(grace);
    }
    let (token, _) = world.issue_token();
    Json(json!({ "access_token": token, "expires_in": TOKEN_SECONDS }))
}

/// Stable tokens: the same token while it has more than five minutes left, unless
/// `force_refresh` is set.
async fn stable_token_answer(State(state): State<AppState>, body: Bytes) -> Json<Value> {
    let sandbox = sandbox(&state);
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(47001, "data format error");
    };
    let field = |name: &str| body.get(name).and_then(Value::as_str);
    if let Err(e) = sandbox.check_credentials(field("grant_type"), field("appid"), field("secret"))
    {
        return e;
    }
    let force = body
        .get("force_refresh")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut world = sandbox.world();
    let now = now_ms();
    let (token, expires) = match world.stable.clone() {
        Some((token, expires)) if !force && expires - now > 5 * 60 * 1000 => (token, expires),
        _ => world.issue_token(),
    };
    world.stable = Some((token.clone(), expires));
    Json(json!({ "access_token": token, "expires_in": (expires - now) / 1000 }))
}

fn scene_of(action: &str, info: Option<&Value>) -> Result<String, Json<Value>> {
    let scene = info
        .and_then(|i| i.get("scene"))
        .ok_or_else(|| error(40097, "invalid args: action_info.scene is missing"))?;
    match action {
        "QR_SCENE" | "QR_LIMIT_SCENE" => {
            let max = if action == "QR_SCENE" {
                u64::from(u32::MAX)
            } else {
                100_000
            };
            match scene.get("scene_id").and_then(Value::as_u64) {
                Some(id) if (1..=max).contains(&id) => Ok(id.to_string()),
                _ => Err(error(40097, "invalid args: scene_id")),
            }
        }
        _ => match scene.get("scene_str").and_then(Value::as_str) {
            Some(s) if (1..=64).contains(&s.chars().count()) => Ok(s.to_owned()),
            _ => Err(error(40097, "invalid args: scene_str")),
        },
    }
}

async fn create_qrcode_answer(
    State(state): State<AppState>,
    Query(q): Query<AccessQuery>,
    body: Bytes,
) -> Json<Value> {
    let sandbox = sandbox(&state);
    let mut world = sandbox.world();
    if let Err(e) = world.check_token(q.access_token.as_deref()) {
        return e;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(47001, "data format error");
    };
    let action = body
        .get("action_name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let temporary = match action.as_str() {
        "QR_SCENE" | "QR_STR_SCENE" => true,
        "QR_LIMIT_SCENE" | "QR_LIMIT_STR_SCENE" => false,
        _ => return error(40097, "invalid args: action_name"),
    };
    let scene = match scene_of(&action, body.get("action_info")) {
        Ok(scene) => scene,
        Err(e) => return e,
    };
    // Left out, WeChat gives a temporary code 60 seconds.
    let expire_seconds = match body.get("expire_seconds") {
        None => 60,
        Some(v) => match v.as_u64() {
            Some(s) if (1..=2_592_000).contains(&s) => s,
            _ => return error(40097, "invalid args: expire_seconds"),
        },
    };
    let mut raw = [0u8; 48];
    rand::thread_rng().fill_bytes(&mut raw);
    let ticket = STANDARD.encode(raw);
    let code: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(22)
        .map(char::from)
        .collect();
    let url = format!("http://weixin.qq.com/q/{code}");
    let expires_at_ms = temporary.then(|| now_ms() + expire_seconds as i64 * 1000);
    world.tickets.insert(
        ticket.clone(),
        Ticket {
            ticket: ticket.clone(),
            url: url.clone(),
            action_name: action,
            scene,
            expires_at_ms,
        },
    );
    if temporary {
        Json(json!({ "ticket": ticket, "expire_seconds": expire_seconds, "url": url }))
    } else {
        Json(json!({ "ticket": ticket, "url": url }))
    }
}

#[derive(Deserialize)]
struct ShowQuery {
    ticket: Option<String>,
}

/// No token needed; 404 for an unknown or expired ticket.
async fn show_qrcode(State(state): State<AppState>, Query(q): Query<ShowQuery>) -> Response {
    let url = {
        let world = sandbox(&state).world();
        q.ticket
            .and_then(|t| world.tickets.get(&t).cloned())
            .filter(|t| t.expires_at_ms.is_none_or(|e| e > now_ms()))
            .map(|t| t.url)
    };
    let Some(url) = url else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match qrcode::QrCode::new(url.as_bytes())
        .map_err(anyhow::Error::from)
        .and_then(|c| crate::http::qrcode::encode_png(&c))
    {
        Ok(png) => ([(CONTENT_TYPE, "image/png")], png).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Customer-service messages, with WeChat's rules: a known openid (40003), news with
/// exactly one article (44003 none, 45008 more), and after a scan or subscribe at most 3
/// messages within one minute (45015 late or not following, 45047 too many).
async fn custom_send_answer(
    State(state): State<AppState>,
    Query(q): Query<AccessQuery>,
    body: Bytes,
) -> Json<Value> {
    let sandbox = sandbox(&state);
    let mut world = sandbox.world();
    if let Err(e) = world.check_token(q.access_token.as_deref()) {
        return e;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(47001, "data format error");
    };
    let openid = body
        .get("touser")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let msgtype = body
        .get("msgtype")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let message = match msgtype.as_str() {
        "news" => {
            let Some(articles) = body.pointer("/news/articles").and_then(Value::as_array) else {
                return error(47001, "data format error: news.articles must be an array");
            };
            match articles.len() {
                0 => return error(44003, "empty news data"),
                1 => {}
                _ => return error(45008, "article size out of limit"),
            }
            let a = &articles[0];
            if text(a, "title").is_empty() {
                return error(44003, "empty news data: title");
            }
            let url = text(a, "url");
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                return error(40039, "invalid url");
            }
            Received {
                openid: openid.clone(),
                msgtype,
                title: text(a, "title"),
                description: text(a, "description"),
                url,
                picurl: text(a, "picurl"),
                at_ms: now_ms(),
                via: "customer-service".into(),
            }
        }
        "text" => Received {
            openid: openid.clone(),
            msgtype,
            title: String::new(),
            description: body
                .pointer("/text/content")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            url: String::new(),
            picurl: String::new(),
            at_ms: now_ms(),
            via: "customer-service".into(),
        },
        _ => return error(40008, "invalid message type"),
    };
    let now = now_ms();
    if world.open_recipients
        && !world.users.contains_key(&openid)
        && !openid.is_empty()
        && openid.len() <= 64
    {
        world
            .users
            .insert(openid.clone(), User::just_scanned(&openid, now));
    }
    let Some(user) = world.users.get_mut(&openid) else {
        return error(40003, "invalid openid");
    };
    if !user.following || now - user.window_opened_ms > WINDOW_MS {
        return error(
            45015,
            "response out of time limit or subscription is canceled",
        );
    }
    if user.window_used >= WINDOW_MESSAGES {
        return error(45047, "out of response count limit");
    }
    user.window_used += 1;
    world.inbox.push(message);
    Json(json!({ "errcode": 0, "errmsg": "ok" }))
}

#[derive(Deserialize)]
struct UserQuery {
    access_token: Option<String>,
    openid: Option<String>,
}

/// Since 2021-12-27 WeChat returns no nickname or avatar here; neither does the sandbox.
async fn user_info_answer(
    State(state): State<AppState>,
    Query(q): Query<UserQuery>,
) -> Json<Value> {
    let sandbox = sandbox(&state);
    let world = sandbox.world();
    if let Err(e) = world.check_token(q.access_token.as_deref()) {
        return e;
    }
    let Some(user) = q.openid.as_deref().and_then(|o| world.users.get(o)) else {
        return error(40003, "invalid openid");
    };
    if !user.following {
        return Json(json!({ "subscribe": 0, "openid": user.openid }));
    }
    Json(json!({
        "subscribe": 1,
        "openid": user.openid,
        "language": "zh_CN",
        "subscribe_time": user.subscribe_time,
        "remark": "",
        "groupid": 0,
        "tagid_list": [],
        "subscribe_scene": "ADD_SCENE_QR_CODE",
        "qr_scene": 0,
        "qr_scene_str": ""
    }))
}
