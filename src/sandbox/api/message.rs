//! Customer-service messages and `user/info`, with WeChat's rules.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{error, text};
use crate::now_ms;
use crate::sandbox::{Received, Sandbox, User, WINDOW_MESSAGES, WINDOW_MS, World};

/// Customer-service messages, with WeChat's rules: a known openid (40003), news with
/// exactly one article (44003 none, 45008 more), and after a scan or subscribe at most 3
/// messages within one minute (45015 late or not following, 45047 too many).
pub(super) fn custom_send_answer(world: &mut World, body: Value) -> Json<Value> {
    let openid = text(&body, "touser");
    let msgtype = text(&body, "msgtype");
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
pub(super) struct UserQuery {
    access_token: Option<String>,
    openid: Option<String>,
}

/// Since 2021-12-27 WeChat returns no nickname or avatar here; neither does the sandbox.
pub(super) async fn user_info_answer(
    State(sandbox): State<Sandbox>,
    Query(q): Query<UserQuery>,
) -> Json<Value> {
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
