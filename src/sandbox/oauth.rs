//! The sandbox's web authorization, as WeChat's: an authorize page where the phone's
//! user consents (or not), single-use codes, web tokens and `/sns/userinfo`, which,
//! unlike `user/info`, still gives the nickname and avatar. Also the phone's in-app
//! browser (`/sandbox/open`), which marks itself the way WeChat's does.

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use minijinja::context;
use rand::Rng;
use rand::distributions::Alphanumeric;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{IN_WECHAT_COOKIE, Sandbox};
use crate::now_ms;

pub fn router() -> Router<Sandbox> {
    Router::new()
        .route("/connect/oauth2/authorize", get(authorize_page))
        .route("/connect/oauth2/consent", post(consent))
        .route("/sns/oauth2/access_token", get(access_token))
        .route("/sns/userinfo", get(userinfo))
        .route("/avatars/{file}", get(avatar))
        .route("/open", get(open_in_wechat))
}

fn random(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    appid: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
}

/// WeChat shows its own error page for a bad request; so does the sandbox.
fn refuse(reason: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><meta charset=utf-8><p>授权请求无效：{reason}</p>"
        )),
    )
        .into_response()
}

async fn authorize_page(
    State(sandbox): State<Sandbox>,
    Query(q): Query<AuthorizeQuery>,
) -> Result<Response, crate::AppError> {
    if q.appid.as_deref() != Some(sandbox.inner.app_id.as_str()) {
        return Ok(refuse("appid 不正确"));
    }
    if q.response_type.as_deref() != Some("code") {
        return Ok(refuse("response_type 必须是 code"));
    }
    let scope = q.scope.unwrap_or_default();
    if scope != "snsapi_userinfo" && scope != "snsapi_base" {
        return Ok(refuse("scope 必须是 snsapi_base 或 snsapi_userinfo"));
    }
    let redirect = q.redirect_uri.unwrap_or_default();
    if !(redirect.starts_with("http://") || redirect.starts_with("https://")) {
        return Ok(refuse("redirect_uri 必须是 http(s) 地址"));
    }
    let st = q.state.unwrap_or_default();
    if st.len() > 128 || !st.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Ok(refuse("state 最多 128 个字母或数字"));
    }
    let users = sandbox.users();
    Ok(sandbox
        .inner
        .pages
        .render(
            "sandbox_consent.html",
            context! { users, redirect_uri => redirect, state => st, scope },
        )?
        .into_response())
}

#[derive(Deserialize)]
struct Consent {
    openid: String,
    decision: String,
    redirect_uri: String,
    state: String,
}

fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencoding::encode(v)))
        .collect();
    format!("{uri}{sep}{}", query.join("&"))
}

async fn consent(State(sandbox): State<Sandbox>, Form(c): Form<Consent>) -> Response {
    if !(c.redirect_uri.starts_with("http://") || c.redirect_uri.starts_with("https://")) {
        return refuse("redirect_uri 必须是 http(s) 地址");
    }
    if c.decision != "allow" {
        return Redirect::to(&with_query(&c.redirect_uri, &[("state", &c.state)])).into_response();
    }
    let code = random(32);
    {
        let mut world = sandbox.world();
        if !world.users.contains_key(&c.openid) {
            return refuse("未知的沙箱用户");
        }
        world
            .oauth_codes
            .insert(code.clone(), (c.openid.clone(), now_ms() + 5 * 60 * 1000));
    }
    Redirect::to(&with_query(
        &c.redirect_uri,
        &[("code", &code), ("state", &c.state)],
    ))
    .into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    appid: Option<String>,
    secret: Option<String>,
    code: Option<String>,
    grant_type: Option<String>,
}

fn error(errcode: i64, errmsg: &str) -> Json<Value> {
    Json(json!({ "errcode": errcode, "errmsg": errmsg }))
}

async fn access_token(State(sandbox): State<Sandbox>, Query(q): Query<TokenQuery>) -> Json<Value> {
    if q.appid.as_deref() != Some(sandbox.inner.app_id.as_str()) {
        return error(40013, "invalid appid");
    }
    if q.secret.as_deref() != Some(sandbox.inner.app_secret.expose_secret()) {
        return error(40125, "invalid appsecret");
    }
    if q.grant_type.as_deref() != Some("authorization_code") {
        return error(40002, "invalid grant_type");
    }
    let mut world = sandbox.world();
    // A code works once, for five minutes.
    let Some((openid, expires)) = q.code.as_deref().and_then(|c| world.oauth_codes.remove(c))
    else {
        return error(40029, "invalid code");
    };
    if expires < now_ms() {
        return error(40029, "invalid code");
    }
    let token = random(64);
    world
        .web_tokens
        .insert(token.clone(), (openid.clone(), now_ms() + 7_200_000));
    Json(
        json!({ "access_token": token, "expires_in": 7200, "refresh_token": random(64), "openid": openid, "scope": "snsapi_userinfo" }),
    )
}

#[derive(Deserialize)]
struct UserinfoQuery {
    access_token: Option<String>,
    openid: Option<String>,
}

async fn userinfo(State(sandbox): State<Sandbox>, Query(q): Query<UserinfoQuery>) -> Json<Value> {
    let world = sandbox.world();
    let owner = q
        .access_token
        .as_deref()
        .and_then(|t| world.web_tokens.get(t))
        .filter(|(_, exp)| *exp > now_ms());
    let Some((openid, _)) = owner else {
        return error(
            40001,
            "invalid credential, access_token is invalid or not latest",
        );
    };
    if q.openid.as_deref() != Some(openid.as_str()) {
        return error(40003, "invalid openid");
    }
    let Some(user) = world.users.get(openid) else {
        return error(40003, "invalid openid");
    };
    let avatar = format!(
        "{}/avatars/{}.svg",
        sandbox.inner.api_base.as_str().trim_end_matches('/'),
        user.openid
    );
    Json(json!({
        "openid": user.openid, "nickname": user.nickname, "sex": 0, "province": "", "city": "", "country": "",
        "headimgurl": avatar, "privilege": [],
    }))
}

/// A round avatar with the user's first character, in a colour of their own.
async fn avatar(State(sandbox): State<Sandbox>, Path(file): Path<String>) -> Response {
    let openid = file.trim_end_matches(".svg");
    let Some(user) = sandbox.users().into_iter().find(|u| u.openid == openid) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let hue = Sha256::digest(openid.as_bytes())[0] as u32 * 360 / 256;
    let initial: String = user.nickname.chars().take(1).collect();
    let initial = initial.replace('&', "&amp;").replace('<', "&lt;");
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"96\" height=\"96\" viewBox=\"0 0 96 96\">\
         <circle cx=\"48\" cy=\"48\" r=\"48\" fill=\"hsl({hue},55%,45%)\"/>\
         <text x=\"48\" y=\"60\" font-size=\"40\" text-anchor=\"middle\" fill=\"#fff\" font-family=\"sans-serif\">{initial}</text></svg>"
    );
    (
        [
            (CONTENT_TYPE, "image/svg+xml"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        svg,
    )
        .into_response()
}

#[derive(Deserialize)]
struct OpenQuery {
    url: Option<String>,
}

/// The phone's in-app browser: marks the browser as inside WeChat, then opens the link.
/// Only links to this service are opened (no open redirect).
async fn open_in_wechat(State(sandbox): State<Sandbox>, Query(q): Query<OpenQuery>) -> Response {
    let home = sandbox.inner.home.as_str();
    let url = q.url.unwrap_or_default();
    let target = if url.starts_with(home) || url.starts_with(sandbox.inner.public_base.as_str()) {
        url
    } else {
        return refuse("只能打开本服务的链接");
    };
    let cookie = format!("{IN_WECHAT_COOKIE}=1; Path=/; SameSite=Lax");
    ([(SET_COOKIE, cookie)], Redirect::to(&target)).into_response()
}
