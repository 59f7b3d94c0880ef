//! Real-credentials mode against a recording stand-in for WeChat that is not our
//! sandbox: it only knows the classic `/cgi-bin/token`, still returns nicknames from
//! `user/info`, and answers custom sends from a script, so token refresh, retries and
//! permanent failures can be driven.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::db_test;
use crate::support::{TestApp, TestDb, scan_xml};

const APP_ID: &str = "wxstandin0001";
const SECRET: &str = "standin-secret";
const TOKEN: &str = "standinToken42";

#[derive(Default)]
struct Recorded {
    token_fetches: u32,
    current_token: String,
    /// Every send attempt's body.
    sends: Vec<Value>,
    /// Answers for the next sends: JSON bodies, or `{"http_status": N}`; empty → ok.
    script: VecDeque<Value>,
}

type Shared = Arc<Mutex<Recorded>>;

async fn token(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Json<Value> {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("grant_type") != Some("client_credential")
        || get("appid") != Some(APP_ID)
        || get("secret") != Some(SECRET)
    {
        return Json(json!({ "errcode": 40125, "errmsg": "invalid appsecret" }));
    }
    let mut s = s.lock().unwrap();
    s.token_fetches += 1;
    s.current_token = format!("standin-token-{}", s.token_fetches);
    Json(json!({ "access_token": s.current_token, "expires_in": 7200 }))
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

async fn stand_in() -> (String, Shared) {
    let shared = Shared::default();
    let router = Router::new()
        .route("/cgi-bin/token", get(token))
        .route("/cgi-bin/message/custom/send", post(send))
        .route("/cgi-bin/user/info", get(user_info))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, shared)
}

async fn spawn_against(db: TestDb, base: &str) -> TestApp {
    TestApp::spawn_with(
        db,
        &[
            ("WECHAT_APP_ID", APP_ID),
            ("WECHAT_APP_SECRET", SECRET),
            ("WECHAT_TOKEN", TOKEN),
            ("WECHAT_API_BASE", base),
        ],
    )
    .await
}

/// Pushes a subscribe-by-scan for `order_id` and waits until deliveries settle.
async fn scan_and_settle(
    app: &TestApp,
    openid: &str,
    order_id: i64,
) -> Vec<entity::delivery::Model> {
    let now = chrono::Utc::now().timestamp();
    let r = app
        .push(scan_xml(
            openid,
            "subscribe",
            &format!("qrscene_{order_id}"),
            None,
            now,
        ))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "success");
    app.wait_for_deliveries_to_settle().await
}

db_test! {
    async fn a_pushed_scan_reaches_an_independent_stand_in_as_one_news_message(db: TestDb) {
        let (base, recorded) = stand_in().await;
        let app = spawn_against(db, &base).await;
        assert!(app.get("/sandbox/").await.status() == 404, "no sandbox with real credentials");
        let id = app.new_order().await;

        let deliveries = scan_and_settle(&app, "oStandinUser0001", id).await;

        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].status, "sent");
        let (sends, fetches) = {
            let r = recorded.lock().unwrap();
            (r.sends.clone(), r.token_fetches)
        };
        assert_eq!(fetches, 1, "the classic token endpoint served once");
        assert_eq!(sends.len(), 1);
        let body = &sends[0];
        assert_eq!(body["touser"], "oStandinUser0001");
        assert_eq!(body["msgtype"], "news");
        let articles = body["news"]["articles"].as_array().unwrap();
        assert_eq!(articles.len(), 1);
        assert_eq!(articles[0]["title"], "您的报价已保存：110㎡ 仅需 12800 元");
        let link = articles[0]["url"].as_str().unwrap();
        let page = app.http.get(link).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Standin 🌟"), "the page shows the nickname user/info returned");
        assert!(page.contains("img.example"), "and the avatar");
        app.stop().await;
    }
}

db_test! {
    async fn a_refused_token_is_refreshed_once_and_the_message_still_sent(db: TestDb) {
        let (base, recorded) = stand_in().await;
        let app = spawn_against(db, &base).await;
        let id = app.new_order().await;
        recorded.lock().unwrap().script.push_back(json!({ "errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest" }));

        let deliveries = scan_and_settle(&app, "oStandinUser0002", id).await;

        assert_eq!(deliveries[0].status, "sent");
        assert_eq!(deliveries[0].attempts, 1, "the refresh happens inside one attempt");
        let (fetches, sends) = {
            let r = recorded.lock().unwrap();
            (r.token_fetches, r.sends.len())
        };
        assert_eq!(fetches, 2);
        assert_eq!(sends, 2);
        app.stop().await;
    }
}

db_test! {
    async fn a_permanent_refusal_is_recorded_and_not_retried(db: TestDb) {
        let (base, recorded) = stand_in().await;
        let app = spawn_against(db, &base).await;
        let id = app.new_order().await;
        recorded.lock().unwrap().script.push_back(json!({ "errcode": 45015, "errmsg": "response out of time limit or subscription is canceled" }));

        let deliveries = scan_and_settle(&app, "oStandinUser0003", id).await;

        let d = &deliveries[0];
        assert_eq!(d.status, "failed");
        assert_eq!(d.errcode, Some(45015));
        assert_eq!(d.errmsg.as_deref(), Some("response out of time limit or subscription is canceled"));
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(recorded.lock().unwrap().sends.len(), 1, "no second try");
        let status: Value = app.get(&format!("/api/orders/{id}/status")).await.json().await.unwrap();
        assert_eq!(status["status"], "failed");
        app.stop().await;
    }
}

db_test! {
    async fn transient_failures_are_retried_until_sent(db: TestDb) {
        let (base, recorded) = stand_in().await;
        let app = spawn_against(db, &base).await;
        let id = app.new_order().await;
        {
            let mut r = recorded.lock().unwrap();
            r.script.push_back(json!({ "errcode": -1, "errmsg": "system error" }));
            r.script.push_back(json!({ "http_status": 502 }));
        }

        let deliveries = scan_and_settle(&app, "oStandinUser0004", id).await;

        let d = &deliveries[0];
        assert_eq!(d.status, "sent");
        assert_eq!(d.attempts, 3);
        assert!(d.sent_at_ms.unwrap() - d.created_at_ms < 10_000, "well inside WeChat's minute");
        assert_eq!(recorded.lock().unwrap().sends.len(), 3);
        app.stop().await;
    }
}
