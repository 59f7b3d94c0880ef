//! A recording stand-in for WeChat that is not our sandbox: it only knows the classic
//! `/cgi-bin/token`, still returns nicknames from `user/info`, and answers custom sends
//! from a script, so token refresh, retries and permanent failures can be driven.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::Uri;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const APP_ID: &str = "wxstandin0001";
pub const SECRET: &str = "standin-secret";
pub const TOKEN: &str = "standinToken42";

#[derive(Default)]
pub struct Recorded {
    pub token_fetches: u32,
    pub current_token: String,
    /// Every send attempt's body.
    pub sends: Vec<Value>,
    /// Answers for the next sends: JSON bodies, `{"http_status": N}`, or
    /// `{"redirect": "/path"}` (307 to that path of the stand-in); empty → ok.
    pub script: VecDeque<Value>,
    /// Query strings of requests that arrived anywhere a redirect pointed.
    pub redirected: Vec<String>,
    pub qrcodes: Vec<Value>,
    /// How long `qrcode/create` takes to answer, so two requests can overlap.
    pub qrcode_delay_ms: u64,
    /// The account's tags (id, name), as `tags/create` made them or a test put them.
    pub tags: Vec<(i64, String)>,
    /// Names `tags/create` was asked for, each time.
    pub tag_creates: Vec<String>,
    pub tag_gets: u32,
    /// Every `batchtagging` that succeeded: the tag id and the openids.
    pub tagged: Vec<(i64, Vec<String>)>,
    /// Answers for the next `batchtagging` calls (JSON bodies); empty → ok.
    pub tagging_script: VecDeque<Value>,
    /// What every token request is answered with instead of a token (a refusal).
    pub token_refusal: Option<Value>,
    /// How far the stand-in's clock (its `Date` header) is ahead of the real one.
    pub clock_ahead_secs: i64,
}

pub type Shared = Arc<Mutex<Recorded>>;

/// Like WeChat: a wrong AppID is 40013, a wrong secret 40125; every answer says the
/// stand-in's time in `Date`.
async fn token(
    State(s): State<Shared>,
    Query(q): Query<Vec<(String, String)>>,
) -> ([(axum::http::HeaderName, String); 1], Json<Value>) {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut s = s.lock().unwrap();
    let date = (chrono::Utc::now() + chrono::Duration::seconds(s.clock_ahead_secs))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let answer = if let Some(refusal) = s.token_refusal.clone() {
        refusal
    } else if get("grant_type") != Some("client_credential") || get("appid") != Some(APP_ID) {
        json!({ "errcode": 40013, "errmsg": "invalid appid rid: 6565aa01-0b1e2c3d-4f5a6b7c" })
    } else if get("secret") != Some(SECRET) {
        json!({ "errcode": 40125, "errmsg": "invalid appsecret rid: 6565aa02-1c2d3e4f-5a6b7c8d" })
    } else {
        s.token_fetches += 1;
        s.current_token = format!("standin-token-{}", s.token_fetches);
        json!({ "access_token": s.current_token, "expires_in": 7200 })
    };
    ([(axum::http::header::DATE, date)], Json(answer))
}

fn token_ok(s: &Recorded, q: &[(String, String)]) -> bool {
    q.iter()
        .any(|(k, v)| k == "access_token" && *v == s.current_token)
}

async fn send(
    State(s): State<Shared>,
    Query(q): Query<Vec<(String, String)>>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = s.lock().unwrap();
    if !token_ok(&s, &q) {
        return Json(json!({ "errcode": 40001, "errmsg": "invalid credential" })).into_response();
    }
    s.sends.push(body);
    match s.script.pop_front() {
        Some(answer) if answer.get("redirect").is_some() => (
            StatusCode::TEMPORARY_REDIRECT,
            [(LOCATION, answer["redirect"].as_str().unwrap().to_owned())],
        )
            .into_response(),
        Some(answer) => match answer.get("http_status").and_then(Value::as_u64) {
            Some(code) => StatusCode::from_u16(code as u16).unwrap().into_response(),
            None => Json(answer).into_response(),
        },
        None => Json(json!({ "errcode": 0, "errmsg": "ok" })).into_response(),
    }
}

async fn user_info(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Json<Value> {
    let s = s.lock().unwrap();
    if !token_ok(&s, &q) {
        return Json(json!({ "errcode": 40001, "errmsg": "invalid credential" }));
    }
    let openid = q
        .iter()
        .find(|(k, _)| k == "openid")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    Json(
        json!({ "subscribe": 1, "openid": openid, "nickname": "Standin 🌟", "headimgurl": "http://img.example/a.png" }),
    )
}

pub async fn stand_in() -> (String, Shared) {
    let shared = Shared::default();
    let router = Router::new()
        .route("/cgi-bin/token", get(token))
        .route("/cgi-bin/message/custom/send", post(send))
        .route("/cgi-bin/user/info", get(user_info))
        .route("/cgi-bin/qrcode/create", post(create_qrcode))
        .route("/cgi-bin/tags/create", post(create_tag))
        .route("/cgi-bin/tags/get", get(list_tags))
        .route("/cgi-bin/tags/members/batchtagging", post(batchtagging))
        .route("/elsewhere", post(elsewhere).get(elsewhere))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, shared)
}

/// Like WeChat: a name the account has already is 45157; ids start at 100.
async fn create_tag(
    State(s): State<Shared>,
    Query(q): Query<Vec<(String, String)>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut s = s.lock().unwrap();
    if !token_ok(&s, &q) {
        return Json(json!({ "errcode": 40001, "errmsg": "invalid credential" }));
    }
    let name = body["tag"]["name"].as_str().unwrap_or_default().to_owned();
    s.tag_creates.push(name.clone());
    if s.tags.iter().any(|(_, n)| *n == name) {
        return Json(json!({ "errcode": 45157, "errmsg": "invalid tag name" }));
    }
    let id = 100 + s.tags.len() as i64;
    s.tags.push((id, name.clone()));
    Json(json!({ "tag": { "id": id, "name": name } }))
}

async fn list_tags(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Json<Value> {
    let mut s = s.lock().unwrap();
    if !token_ok(&s, &q) {
        return Json(json!({ "errcode": 40001, "errmsg": "invalid credential" }));
    }
    s.tag_gets += 1;
    let tags: Vec<Value> = s
        .tags
        .iter()
        .map(|(id, name)| json!({ "id": id, "name": name, "count": 0 }))
        .collect();
    Json(json!({ "tags": tags }))
}

async fn batchtagging(
    State(s): State<Shared>,
    Query(q): Query<Vec<(String, String)>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut s = s.lock().unwrap();
    if !token_ok(&s, &q) {
        return Json(json!({ "errcode": 40001, "errmsg": "invalid credential" }));
    }
    if let Some(answer) = s.tagging_script.pop_front() {
        return Json(answer);
    }
    let id = body["tagid"].as_i64().unwrap_or_default();
    if !s.tags.iter().any(|(t, _)| *t == id) {
        return Json(json!({ "errcode": 45159, "errmsg": "invalid tag id" }));
    }
    let openids: Vec<String> =
        serde_json::from_value(body["openid_list"].clone()).unwrap_or_default();
    s.tagged.push((id, openids));
    Json(json!({ "errcode": 0, "errmsg": "ok" }))
}

/// Where a scripted redirect points: records what reached it.
async fn elsewhere(State(s): State<Shared>, uri: Uri) -> StatusCode {
    let query = uri.query().unwrap_or_default().to_owned();
    s.lock().unwrap().redirected.push(query);
    StatusCode::OK
}

/// Like WeChat, a permanent code is one per scene: asking again for the same scene
/// answers the same ticket. Temporary codes get a new ticket each time.
async fn create_qrcode(
    State(s): State<Shared>,
    Query(q): Query<Vec<(String, String)>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let delay = s.lock().unwrap().qrcode_delay_ms;
    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    let mut s = s.lock().unwrap();
    if !token_ok(&s, &q) {
        return Json(json!({ "errcode": 40001, "errmsg": "invalid credential" }));
    }
    s.qrcodes.push(body.clone());
    let n = s.qrcodes.len();
    let permanent = body["action_name"]
        .as_str()
        .is_some_and(|a| a.starts_with("QR_LIMIT"));
    let id = if permanent {
        let scene = &body["action_info"]["scene"];
        let scene = scene
            .get("scene_str")
            .or(scene.get("scene_id"))
            .cloned()
            .unwrap_or_default();
        format!("p{}", urlencoding::encode(&scene.to_string()))
    } else {
        n.to_string()
    };
    let mut answer = json!({ "ticket": format!("gQStandin{id}+/="), "url": format!("http://weixin.qq.com/q/standin{id}") });
    if let Some(seconds) = body.get("expire_seconds") {
        answer["expire_seconds"] = seconds.clone();
    }
    Json(answer)
}
