//! The landing page, the shopper's order page and the health endpoints.

use serde_json::Value;

use crate::db_test;
use crate::support::TestApp;

db_test! {
    async fn the_landing_form_creates_an_order_and_opens_its_page(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let home = app.get("/").await.text().await.unwrap();
        assert!(home.contains("沙箱模式"));

        let r = app.http.post(app.url("/")).form(&[("room_area", "100"), ("total_money", "20000"), ("saved_money", "5000")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("/orders/"));

        let page = app.get(&location).await.text().await.unwrap();
        for text in ["<dd>100</dd>", "<dd>125</dd>", "20000 元", "25000 元", "5000 元", "用微信扫一扫，保存这份报价", "qrcode.svg", "/sandbox/"] {
            assert!(page.contains(text), "order page lacks {text}");
        }
        app.stop().await;
    }
}

db_test! {
    async fn the_landing_form_shows_what_is_wrong(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let r = app.http.post(app.url("/")).form(&[("room_area", "100"), ("total_money", "-3"), ("saved_money", "5000")]).send().await.unwrap();
        assert_eq!(r.status(), 400);
        let page = r.text().await.unwrap();
        assert!(page.contains("报价（total_money）不能为负数"), "{page}");
        assert!(page.contains("value=\"-3\""), "the form keeps what was typed");
        assert_eq!(app.count("orders").await, 0);
        app.stop().await;
    }
}

db_test! {
    async fn an_unknown_order_page_is_a_friendly_404(db: TestDb) {
        let app = TestApp::spawn(db).await;
        for path in ["/orders/1", "/orders/12345", "/orders/nope", &format!("/orders/{}", "A".repeat(32))] {
            let r = app.get(path).await;
            assert_eq!(r.status(), 404);
            assert!(r.text().await.unwrap().contains("找不到这个页面"));
        }
        app.stop().await;
    }
}

db_test! {
    async fn health_and_metrics_answer(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let health: Value = app.get("/healthz").await.json().await.unwrap();
        assert_eq!(health["status"], "ok");
        assert_eq!(health["mode"], "sandbox");
        let metrics = app.get("/metrics").await.text().await.unwrap();
        for path in ["/sandbox/", "/sandbox"] {
            let phone = app.get(path).await;
            assert_eq!(phone.status(), 200, "{path}");
            assert!(phone.text().await.unwrap().contains("微信沙箱"));
        }
        assert!(metrics.contains("# TYPE scanquote_scans_received_total counter"));
        app.stop().await;
    }
}
