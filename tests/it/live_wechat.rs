//! Real-credentials mode against the recording stand-in (see `stand_in`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::db_test;
use crate::stand_in::{APP_ID, SECRET, TOKEN, stand_in};
use crate::support::{OrderRef, TestApp, TestDb};

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

/// Pushes a subscribe-by-scan of `order`'s code and waits until deliveries settle.
async fn scan_and_settle(
    app: &TestApp,
    openid: &str,
    order: &OrderRef,
) -> Vec<entity::delivery::Model> {
    let now = chrono::Utc::now().timestamp();
    let ticket = app.ticket(order).await;
    let r = app
        .push(app.scan_of(openid, "subscribe", &ticket, now).await)
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
        let order = app.new_order().await;

        let deliveries = scan_and_settle(&app, "oStandinUser0001", &order).await;

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
        let order = app.new_order().await;
        recorded.lock().unwrap().script.push_back(json!({ "errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest" }));

        let deliveries = scan_and_settle(&app, "oStandinUser0002", &order).await;

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
        let order = app.new_order().await;
        recorded.lock().unwrap().script.push_back(json!({ "errcode": 45015, "errmsg": "response out of time limit or subscription is canceled" }));

        let deliveries = scan_and_settle(&app, "oStandinUser0003", &order).await;

        let d = &deliveries[0];
        assert_eq!(d.status, "failed");
        assert_eq!(d.errcode, Some(45015));
        assert_eq!(d.errmsg.as_deref(), Some("response out of time limit or subscription is canceled"));
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(recorded.lock().unwrap().sends.len(), 1, "no second try");
        let status: Value = app.get(&format!("/api/orders/{}/status", order.token)).await.json().await.unwrap();
        assert_eq!(status["status"], "failed");
        app.stop().await;
    }
}

db_test! {
    async fn transient_failures_are_retried_until_sent(db: TestDb) {
        let (base, recorded) = stand_in().await;
        let app = spawn_against(db, &base).await;
        let order = app.new_order().await;
        {
            let mut r = recorded.lock().unwrap();
            r.script.push_back(json!({ "errcode": -1, "errmsg": "system error" }));
            r.script.push_back(json!({ "http_status": 502 }));
        }

        let deliveries = scan_and_settle(&app, "oStandinUser0004", &order).await;

        let d = &deliveries[0];
        assert_eq!(d.status, "sent");
        assert_eq!(d.attempts, 3);
        assert!(d.sent_at_ms.unwrap() - d.created_at_ms < 10_000, "well inside WeChat's minute");
        assert_eq!(recorded.lock().unwrap().sends.len(), 3);
        app.stop().await;
    }
}

db_test! {
    async fn a_redirecting_api_is_not_followed_and_the_token_stays_home(db: TestDb) {
        let (base, recorded) = stand_in().await;
        let app = spawn_against(db, &base).await;
        let order = app.new_order().await;
        recorded.lock().unwrap().script.push_back(json!({ "redirect": "/elsewhere" }));

        let deliveries = scan_and_settle(&app, "oStandinUser0005", &order).await;

        let d = &deliveries[0];
        assert_eq!(d.status, "failed", "an API that redirects is not WeChat's: not retried");
        assert_eq!(d.errmsg.as_deref(), Some("unexpected answer: HTTP 307 Temporary Redirect"));
        let (sends, redirected) = {
            let r = recorded.lock().unwrap();
            (r.sends.len(), r.redirected.clone())
        };
        assert_eq!(sends, 1);
        assert!(
            redirected.is_empty(),
            "nothing, least of all the access token, went where it pointed: {redirected:?}"
        );
        app.stop().await;
    }
}
