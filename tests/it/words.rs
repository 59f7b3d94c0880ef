//! What people read: every refusal the JSON API gives says, in Chinese, what was wrong
//! (field names may stay as they are, in `field`).

use serde_json::Value;

use crate::db_test;
use crate::support::{ADMIN_TOKEN, TestApp};

/// A request to make: method, path, body, credentials (`admin`, `key` or none) and the
/// status it must get.
type Case<'a> = (
    reqwest::Method,
    String,
    Option<&'a str>,
    Option<&'a str>,
    u16,
);

fn has_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

db_test! {
    async fn every_json_refusal_says_what_was_wrong_in_chinese(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let order = app.new_order().await;
        use reqwest::Method as M;
        let cases: Vec<Case> = vec![
            (M::GET, "/api/admin/deliveries".into(), None, None, 401),
            (M::GET, "/api/admin/deliveries?page=x".into(), None, Some("admin"), 400),
            (M::GET, "/api/admin/deliveries?status=lost".into(), None, Some("admin"), 400),
            (M::POST, "/api/admin/deliveries/abc/retry".into(), None, Some("admin"), 400),
            (M::POST, "/api/admin/deliveries/99999/retry".into(), None, Some("admin"), 404),
            (M::PUT, "/api/admin/template".into(), Some("{}"), Some("admin"), 400),
            (M::PUT, "/api/admin/template".into(), Some(r#"{"title": "{{ nope }}", "description": "", "pic_url": "", "link": "{{ quote_url }}"}"#), Some("admin"), 400),
            (M::PUT, "/api/admin/template".into(), Some("{not json"), Some("admin"), 400),
            (M::POST, "/api/admin/template/preview".into(), Some(r#"{"title": "t", "description": "", "pic_url": "", "link": "{{ quote_url }}", "order_id": 99999}"#), Some("admin"), 400),
            (M::POST, "/api/admin/template/versions/99999/restore".into(), None, Some("admin"), 404),
            (M::PUT, "/api/admin/shop".into(), Some(r#"{"name": ""}"#), Some("admin"), 400),
            (M::PUT, "/api/admin/shop".into(), Some(r#"{"name": "店", "phone": "call"}"#), Some("admin"), 400),
            (M::GET, "/api/admin/shop".into(), None, None, 401),
            (M::POST, "/api/admin/site-keys".into(), Some(r#"{"name": ""}"#), Some("admin"), 400),
            (M::PUT, "/api/admin/webhook".into(), Some(r#"{"url": "ftp://x"}"#), Some("admin"), 400),
            (M::PUT, "/api/admin/order-fields".into(), Some(r#"{"fields": []}"#), Some("admin"), 400),
            (M::PUT, "/api/admin/settings".into(), Some(r#"{"delivery_mode": "carrier_pigeon"}"#), Some("admin"), 400),
            (M::POST, "/api/admin/channel-codes".into(), Some(r#"{"name": "", "validity": "permanent"}"#), Some("admin"), 400),
            (M::POST, "/api/admin/channel-codes".into(), Some(r#"{"name": "a", "validity": 5}"#), Some("admin"), 400),
            (M::POST, "/api/admin/channel-codes/batch".into(), Some(r#"{"prefix": "a", "count": 0, "validity": "permanent"}"#), Some("admin"), 400),
            (M::PATCH, "/api/admin/channel-codes/99999".into(), Some(r#"{"enabled": false}"#), Some("admin"), 404),
            (M::GET, "/api/admin/channel-codes/1.png?size=9".into(), None, Some("admin"), 400),
            (M::GET, "/api/admin/promoters".into(), None, Some("admin"), 404),
            (M::POST, "/api/orders".into(), Some("{}"), None, 401),
            (M::POST, "/api/orders".into(), Some("{"), Some("key"), 400),
            (M::POST, "/api/orders".into(), Some(r#"{"total_money": "abc"}"#), Some("key"), 400),
            (M::GET, "/api/orders/no-such-order".into(), None, Some("key"), 404),
            (M::GET, "/api/orders/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/status".into(), None, None, 404),
            (M::GET, format!("/api/orders/{}/qrcode?size=abc", order.token), None, None, 200),
            (M::GET, "/api/no-such-api".into(), None, None, 404),
            (M::POST, "/wechat".into(), Some("<xml/>"), None, 403),
            (M::GET, "/wechat?echostr=1".into(), None, None, 403),
        ];
        for (method, path, body, auth, status) in cases {
            let mut req = app.http.request(method.clone(), app.url(&path)).header("content-type", "application/json");
            req = match auth {
                Some("admin") => req.bearer_auth(ADMIN_TOKEN),
                Some(_) => req.bearer_auth(&app.site_key),
                None => req,
            };
            if let Some(body) = body {
                req = req.body(body.to_owned());
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status().as_u16(), status, "{method} {path}");
            if status == 200 {
                continue;
            }
            let answer: Value = r.json().await.unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e})"));
            let error = answer["error"].as_str().unwrap_or_default();
            assert!(has_chinese(error), "{method} {path}: {answer}");
        }
        app.stop().await;
    }
}
