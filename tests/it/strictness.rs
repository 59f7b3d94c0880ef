//! What the callback and the code registry are strict about: a verification check is
//! held to the push's timestamp window, a push for another account is refused, and a
//! ticket WeChat answers twice is the same code, not a failure.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::db_test;
use crate::stand_in::{APP_ID, SECRET, TOKEN, stand_in};
use crate::support::{ADMIN_TOKEN, TestApp, scan_xml};

db_test! {
    async fn a_push_for_another_account_is_refused_once_the_original_id_is_known(db: TestDb) {
        let app = TestApp::spawn_with(db, &[("WECHAT_ORIGINAL_ID", "gh_ourshop00001")]).await;
        let order = app.new_order().await;
        let ticket = app.ticket(&order).await;
        let scene = app.scene_of(&ticket).await;
        let now = chrono::Utc::now().timestamp();
        let theirs = scan_xml("oElsewhere0001", "SCAN", &scene, Some(&ticket), now);
        assert!(theirs.contains("gh_test"));
        let r = app.push(theirs).await;
        assert_eq!(r.status(), 403);
        assert_eq!(app.count("scans").await, 0);
        assert_eq!(app.count("deliveries").await, 0);

        let ours = scan_xml("oOurs000000001", "SCAN", &scene, Some(&ticket), now + 1)
            .replace("gh_test", "gh_ourshop00001");
        let r = app.push(ours).await;
        assert_eq!(r.status(), 200);
        assert_eq!(app.count("scans").await, 1);
        app.stop().await;
    }
}

async fn admin(app: &TestApp, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .http
        .request(method, app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

db_test! {
    async fn two_requests_for_one_channel_code_name_make_one_code(db: TestDb) {
        let (base, recorded) = stand_in().await;
        let app = TestApp::spawn_with(db, &[
            ("WECHAT_APP_ID", APP_ID), ("WECHAT_APP_SECRET", SECRET),
            ("WECHAT_TOKEN", TOKEN), ("WECHAT_API_BASE", &base),
        ]).await;
        // Slow enough that the second request arrives while the first waits on WeChat.
        recorded.lock().unwrap().qrcode_delay_ms = 400;
        let body = json!({"name": "zhang3", "validity": "permanent"});
        let both = join_all((0..2).map(|_| admin(&app, reqwest::Method::POST, "/api/admin/channel-codes", body.clone()))).await;
        let mut statuses: Vec<u16> = both.iter().map(|(s, _)| *s).collect();
        statuses.sort();
        assert_eq!(statuses, [201, 409], "{both:?}");
        let refused = both.iter().find(|(s, _)| *s == 409).unwrap();
        assert!(refused.1["error"].as_str().unwrap().contains("已有名为“zhang3”的渠道码"), "{refused:?}");
        assert_eq!(recorded.lock().unwrap().qrcodes.len(), 1, "the second never asked WeChat");
        assert_eq!(app.count("qr_codes").await, 1);
        assert_eq!(app.count("channel_codes").await, 1);
        app.stop().await;
    }
}
