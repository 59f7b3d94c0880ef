//! The delivery guarantee an operator chooses: a send whose answer never came is sent
//! again at least once, and left "unknown" for the owner at most once, who can resend
//! it by hand. (The kill -9 runs under both guarantees are in `chaos`.)

use serde_json::{Value, json};

use crate::db_test;
use crate::support::{ADMIN_TOKEN, TestApp};

/// Scans one order as a fresh sandbox user while the sandbox drops the first send's
/// connection without an answer; returns the user and the settled delivery.
async fn scan_with_a_lost_answer(app: &TestApp) -> (String, entity::delivery::Model) {
    app.sandbox_fault(json!({"api": "custom_send", "drop": true, "count": 1}))
        .await;
    let order = app.new_order().await;
    let user = app.sandbox_user("丢失回复").await;
    app.sandbox_scan(&user, &app.ticket(&order).await).await;
    let settled = app.wait_for_deliveries_to_settle().await;
    assert_eq!(settled.len(), 1);
    (user, settled[0].clone())
}

db_test! {
    async fn at_least_once_a_send_without_an_answer_is_sent_again(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let (user, d) = scan_with_a_lost_answer(&app).await;
        assert_eq!(d.status, "sent");
        assert_eq!(d.attempts, 2);
        assert_eq!(app.inbox(&user).await.len(), 1, "the dropped one never arrived; the retry did");
        app.stop().await;
    }
}

db_test! {
    async fn at_most_once_it_is_left_unknown_and_the_owner_resends_it(db: TestDb) {
        let app = TestApp::spawn_with(db, &[("DELIVERY_GUARANTEE", "at-most-once")]).await;
        let (user, d) = scan_with_a_lost_answer(&app).await;
        assert_eq!(d.status, "unknown");
        assert_eq!(d.attempts, 1);
        assert!(d.errmsg.as_deref().unwrap().contains("无法确认"), "{d:?}");
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_eq!(app.sandbox_stats().await["custom_send_calls"], 1, "never sent again on its own");
        assert!(app.inbox(&user).await.is_empty());

        let listed: Value = app.http.get(app.url("/api/admin/deliveries?status=unknown")).bearer_auth(ADMIN_TOKEN)
            .send().await.unwrap().json().await.unwrap();
        let row = &listed["items"][0];
        assert_eq!((row["status"].as_str(), row["status_zh"].as_str()), (Some("unknown"), Some("状态不明")), "{listed}");
        assert_eq!(row["retryable"], true);
        let login = app.http.post(app.url("/admin/login")).form(&[("token", ADMIN_TOKEN)]).send().await.unwrap();
        let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let page = app.http.get(app.url("/admin?status=unknown")).header("cookie", &session).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("状态不明") && page.contains("重新发送"), "the console offers the resend");

        let r = app.http.post(app.url(&format!("/api/admin/deliveries/{}/retry", d.id))).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let settled = app.wait_for_deliveries_to_settle().await;
        assert_eq!(settled[0].status, "sent");
        assert_eq!(app.wait_for_inbox(&user, 1).await.len(), 1);
        app.stop().await;
    }
}

db_test! {
    async fn a_busy_answer_is_retried_even_at_most_once(db: TestDb) {
        let app = TestApp::spawn_with(db, &[("DELIVERY_GUARANTEE", "at-most-once")]).await;
        app.sandbox_fault(json!({"api": "custom_send", "errcode": -1, "count": 1})).await;
        let order = app.new_order().await;
        let user = app.sandbox_user("繁忙").await;
        app.sandbox_scan(&user, &app.ticket(&order).await).await;
        let settled = app.wait_for_deliveries_to_settle().await;
        assert_eq!((settled[0].status.as_str(), settled[0].attempts), ("sent", 2), "WeChat answered, so it did not take it");
        assert_eq!(app.inbox(&user).await.len(), 1);
        app.stop().await;
    }
}
