//! The site owner's console and its API: template versions, previews, deliveries.

use serde_json::{Value, json};

use crate::db_test;
use crate::support::{ADMIN_TOKEN, TestApp};

async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.admin_api(method, path, body).await
}

fn template(title: &str) -> Value {
    json!({ "title": title, "description": "我们的报价：{{ total_money }} 元", "pic_url": "", "link": "{{ quote_url }}" })
}

db_test! {
    async fn a_broken_template_is_refused_and_the_old_one_stays_in_force(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let (_, before) = api(&app, reqwest::Method::GET, "/api/admin/template", None).await;
        let default_title = before["current"]["title"].as_str().unwrap().to_owned();

        let (status, err) = api(&app, reqwest::Method::PUT, "/api/admin/template", Some(template("{{ no_such_field }} 报价"))).await;
        assert_eq!(status, 400);
        assert_eq!(err["field"], "title");
        assert!(err["error"].as_str().unwrap().contains("第 1 行"), "{err}");
        let (status, err) = api(&app, reqwest::Method::PUT, "/api/admin/template", Some(template("{% if %}"))).await;
        assert_eq!((status, err["field"].as_str()), (400, Some("title")));
        let (_, still) = api(&app, reqwest::Method::GET, "/api/admin/template", None).await;
        assert_eq!(still["current"]["title"], default_title.as_str());
        assert_eq!(still["versions"].as_array().unwrap().len(), 1);

        let (status, saved) = api(&app, reqwest::Method::PUT, "/api/admin/template", Some(template("新报价 {{ building_area }}㎡"))).await;
        assert_eq!(status, 200);
        // The next message uses the new version.
        let order = app.new_order().await;
        let ticket = app.ticket(&order).await;
        let openid = app.sandbox_user("模板").await;
        app.sandbox_scan(&openid, &ticket).await;
        assert_eq!(app.wait_for_inbox(&openid, 1).await[0]["title"], "新报价 110㎡");

        // Restoring the first version makes it the newest again.
        let first = still["current"]["id"].as_i64().unwrap();
        let (status, restored) = api(&app, reqwest::Method::POST, &format!("/api/admin/template/versions/{first}/restore"), None).await;
        assert_eq!(status, 200);
        assert_eq!(restored["title"], default_title.as_str());
        assert!(restored["id"].as_i64().unwrap() > saved["id"].as_i64().unwrap());
        let (status, _) = api(&app, reqwest::Method::POST, "/api/admin/template/versions/9999/restore", None).await;
        assert_eq!(status, 404);
        app.stop().await;
    }
}

db_test! {
    async fn a_preview_renders_against_a_chosen_order(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let r = app.create_order(r#"{"total_money": "8888.80", "saved_money": 1000, "room_area": 40}"#).await;
        let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let mut body = template("{{ building_area }}㎡ 仅需 {{ total_money }} 元");
        body["order_id"] = json!(id);

        let (status, article) = api(&app, reqwest::Method::POST, "/api/admin/template/preview", Some(body.clone())).await;

        assert_eq!(status, 200);
        assert_eq!(article["title"], "50㎡ 仅需 8888.80 元");
        body["order_id"] = json!(424242);
        let (status, err) = api(&app, reqwest::Method::POST, "/api/admin/template/preview", Some(body)).await;
        assert_eq!((status, err["field"].as_str()), (400, Some("order_id")));
        assert_eq!(app.count("templates").await, 1, "previews store nothing");
        app.stop().await;
    }
}

db_test! {
    async fn deliveries_are_paged_filtered_exported_and_retried_while_wechat_would_accept(db: TestDb) {
        let app = TestApp::spawn(db).await;
        app.sandbox_open_recipients().await;
        let order = app.new_order().await;
        let ticket = app.ticket(&order).await;
        app.sandbox_fault(json!({"api": "custom_send", "errcode": 40003, "errmsg": "invalid openid", "count": 1})).await;
        let now = chrono::Utc::now().timestamp();
        app.push(app.scan_of("oConsole000001", "SCAN", &ticket, now).await).await;
        app.wait_for_deliveries_to_settle().await;
        for i in 2..=4 {
            app.push(app.scan_of(&format!("oConsole00000{i}"), "SCAN", &ticket, now).await).await;
        }
        let all = app.wait_for_deliveries_to_settle().await;
        assert_eq!(all.len(), 4);

        let (_, failed) = api(&app, reqwest::Method::GET, "/api/admin/deliveries?status=failed", None).await;
        assert_eq!(failed["total"], 1);
        assert_eq!(failed["items"][0]["errcode"], 40003);
        assert_eq!(failed["items"][0]["errmsg"], "invalid openid");
        assert_eq!(failed["items"][0]["retryable"], true);
        let (_, page) = api(&app, reqwest::Method::GET, "/api/admin/deliveries?per_page=3&page=1", None).await;
        assert_eq!((page["total"].as_u64(), page["items"].as_array().unwrap().len()), (Some(4), 1));
        let (status, _) = api(&app, reqwest::Method::GET, "/api/admin/deliveries?status=lost", None).await;
        assert_eq!(status, 400);

        let csv = app.http.get(app.url("/api/admin/deliveries.csv")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let csv = csv.text().await.unwrap();
        assert!(csv.starts_with("\u{feff}编号,创建时间,订单,网站订单号,用户 openid,昵称,状态,尝试次数,错误码,原因,发送时间\r\n"), "{csv}");
        assert_eq!(csv.lines().count(), 5);
        assert!(csv.contains(",失败,1,40003,openid 无效：不是本公众号的用户,"), "{csv}");
        assert!(csv.contains("+08:00"), "Beijing times: {csv}");
        assert!(!csv.contains('Z'), "no UTC times: {csv}");
        let failed_only = app.http.get(app.url("/api/admin/deliveries.csv?status=failed")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().text().await.unwrap();
        assert_eq!(failed_only.lines().count(), 2, "the filter is kept in the export: {failed_only}");

        let failed_id = failed["items"][0]["id"].as_i64().unwrap();
        let (status, _) = api(&app, reqwest::Method::POST, &format!("/api/admin/deliveries/{failed_id}/retry"), None).await;
        assert_eq!(status, 200);
        let settled = app.wait_for_deliveries_to_settle().await;
        assert!(settled.iter().all(|d| d.status == "sent"), "{settled:?}");
        let sent_id = settled[1].id;
        let (status, err) = api(&app, reqwest::Method::POST, &format!("/api/admin/deliveries/{sent_id}/retry"), None).await;
        assert_eq!(status, 409, "{err}");
        app.stop().await;
    }
}

db_test! {
    async fn the_console_page_shows_template_errors_and_previews(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let login = app.http.post(app.url("/admin/login")).form(&[("token", ADMIN_TOKEN)]).send().await.unwrap();
        let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let page = app.http.get(app.url("/admin")).header("cookie", &session).send().await.unwrap().text().await.unwrap();
        let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let form = |title: &str, action: &str| {
            vec![
                ("csrf", csrf.clone()), ("action", action.to_owned()), ("title", title.to_owned()),
                ("description", "{{ total_money }} 元".to_owned()), ("pic_url", String::new()), ("link", "{{ quote_url }}".to_owned()),
            ]
        };

        // The fields it lists are those a template may use, the worked-out figures the
        // default card itself uses among them.
        let page = app.http.get(app.url("/admin/template")).header("cookie", &session).send().await.unwrap().text().await.unwrap();
        let listed = page.split("可用字段：").nth(1).unwrap().split("写法如").next().unwrap();
        for field in ["total_money", "saved_money", "room_area", "market_money", "building_area", "quote_url", "openid"] {
            assert!(listed.contains(&format!("<code>{field}</code>")), "{field} is listed: {listed}");
        }

        let broken = app.http.post(app.url("/admin/template")).header("cookie", &session).form(&form("{{ nope }}", "save")).send().await.unwrap();
        assert_eq!(broken.status(), 400);
        let html = broken.text().await.unwrap();
        assert!(html.contains("标题第 1 行：订单里没有 nope 这个字段"), "the error names the part, line and field");
        assert!(!html.contains("title line"), "in words, not field names");
        assert!(html.contains("value=\"{{ nope }}\""), "the draft is kept for fixing");
        assert_eq!(app.count("templates").await, 1);

        let preview = app.http.post(app.url("/admin/template")).header("cookie", &session).form(&form("预览 {{ building_area }}㎡", "preview")).send().await.unwrap();
        assert_eq!(preview.status(), 200);
        assert!(preview.text().await.unwrap().contains("预览 110㎡"));
        let saved = app.http.post(app.url("/admin/template")).header("cookie", &session).form(&form("保存 {{ building_area }}㎡", "save")).send().await.unwrap();
        assert_eq!(saved.status(), 303);
        assert_eq!(app.count("templates").await, 2);
        app.stop().await;
    }
}

db_test! {
    async fn in_passive_mode_the_card_comes_back_in_the_callbacks_answer(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let (status, _) = api(&app, reqwest::Method::PUT, "/api/admin/settings", Some(json!({"delivery_mode": "passive_reply"}))).await;
        assert_eq!(status, 200);
        let (status, _) = api(&app, reqwest::Method::PUT, "/api/admin/settings", Some(json!({"delivery_mode": "pigeon"}))).await;
        assert_eq!(status, 400);
        let order = app.new_order().await;
        let id = order.id;
        let ticket = app.qrcode(&order).await["ticket"].as_str().unwrap().to_owned();
        let openid = app.sandbox_user("被动").await;

        let pushed = app.sandbox_scan(&openid, &ticket).await;

        assert_eq!(pushed["reply_text"], "您的报价已保存：110㎡ 仅需 12800 元", "{pushed}");
        let inbox = app.inbox(&openid).await;
        assert_eq!((inbox.len(), inbox[0]["via"].as_str()), (1, Some("passive")));
        assert!(inbox[0]["url"].as_str().unwrap().contains(&format!("order_id={id}&")));
        assert_eq!(app.sandbox_stats().await["custom_send_calls"], 0, "no customer-service message");
        let d = app.deliveries().await;
        assert_eq!((d.len(), d[0].status.as_str()), (1, "sent"));
        app.stop().await;
    }
}
