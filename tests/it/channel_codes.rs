//! Channel codes (渠道码): made, scanned in the sandbox by new and existing followers,
//! answered, tagged and counted; disabled, expired, deleted; made by the batch and
//! downloaded; and carried over from the promoter codes and scene replies of old.

use std::time::Duration;

use serde_json::{Value, json};

use crate::db_test;
use crate::stand_in::{APP_ID, SECRET, TOKEN, stand_in};
use crate::support::{ADMIN_TOKEN, TestApp, scan_xml};

async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.admin_api(method, path, body).await
}

pub async fn create(app: &TestApp, body: Value) -> Value {
    let (status, code) = api(
        app,
        reqwest::Method::POST,
        "/api/admin/channel-codes",
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{code}");
    code
}

async fn sandbox_follower(app: &TestApp, nickname: &str) -> String {
    let r = app
        .http
        .post(app.url("/sandbox/api/users"))
        .json(&json!({ "nickname": nickname, "following": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["openid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn unsubscribe(app: &TestApp, openid: &str) {
    let r = app
        .http
        .post(app.url("/sandbox/api/unsubscribe"))
        .json(&json!({ "openid": openid }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// Today in Beijing, as the stats name days.
fn beijing_today() -> String {
    let china = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    chrono::Utc::now()
        .with_timezone(&china)
        .format("%Y-%m-%d")
        .to_string()
}

/// Waits until the outbox has nothing left to try.
async fn settle(app: &TestApp) {
    for _ in 0..200 {
        let pending = app
            .count("deliveries WHERE status IN ('pending', 'sending')")
            .await;
        if pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the outbox did not settle");
}

db_test! {
    async fn a_code_welcomes_new_followers_answers_the_rest_tags_everyone_and_counts_them(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let code = create(&app, json!({
            "name": "张三", "group": "地推", "note": "十二月门店活动", "validity": "permanent",
            "welcome": {"text": "欢迎关注！张三带你来的"},
            "reply": {"news": {"title": "{{ name }} 的专属优惠", "description": "点开看看", "url": "{{ base_url }}?from={{ name }}", "pic_url": ""}},
            "tag": "地推-张三",
        })).await;
        assert_eq!(code["name"], "张三");
        assert!(code["scene"].as_str().unwrap().starts_with("cc-"), "{code}");
        assert!(code["url"].as_str().unwrap().starts_with("http"), "{code}");
        assert_eq!(code["expires_at"], Value::Null);
        let id = code["id"].as_i64().unwrap();
        assert!(code["png_url"].as_str().unwrap().ends_with(&format!("/api/admin/channel-codes/{id}.png")));
        assert!(code["svg_url"].as_str().unwrap().ends_with(&format!("/api/admin/channel-codes/{id}.svg")));
        let ticket = code["ticket"].as_str().unwrap();

        let new1 = app.sandbox_user("新粉丝一").await;
        let new2 = app.sandbox_user("新粉丝二").await;
        let old = sandbox_follower(&app, "老粉丝").await;
        assert_eq!(app.sandbox_scan(&new1, ticket).await["event"], "subscribe");
        assert_eq!(app.sandbox_scan(&new2, ticket).await["event"], "subscribe");
        assert_eq!(app.sandbox_scan(&old, ticket).await["event"], "SCAN");
        // A second later: within one second, WeChat's identity of a push (who, when)
        // would make it a retry of the first.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(app.sandbox_scan(&old, ticket).await["event"], "SCAN");
        unsubscribe(&app, &new2).await;
        settle(&app).await;

        for new in [&new1, &new2] {
            let inbox = app.wait_for_inbox(new, 1).await;
            assert_eq!(inbox.len(), 1, "{inbox:?}");
            assert_eq!((inbox[0]["msgtype"].as_str(), inbox[0]["description"].as_str()), (Some("text"), Some("欢迎关注！张三带你来的")));
        }
        let inbox = app.wait_for_inbox(&old, 2).await;
        assert_eq!(inbox.len(), 2, "{inbox:?}");
        assert_eq!(inbox[0]["msgtype"], "news");
        assert_eq!(inbox[0]["title"], "张三 的专属优惠");
        assert!(inbox[0]["url"].as_str().unwrap().ends_with("?from=张三"), "{}", inbox[0]);

        let stats = app.sandbox_stats().await;
        assert_eq!(stats["tags_create_calls"], 1, "one tags/create for the name: {stats}");
        let mut tagged: Vec<String> = serde_json::from_value(stats["tagged_openids"].clone()).unwrap();
        tagged.sort();
        tagged.dedup();
        let mut everyone = vec![new1.clone(), new2.clone(), old.clone()];
        everyone.sort();
        assert_eq!(tagged, everyone);
        let users: Value = app.get("/sandbox/api/users").await.json().await.unwrap();
        let user = users.as_array().unwrap().iter().find(|u| u["openid"] == old.as_str()).unwrap();
        assert_eq!(user["tags"], json!(["地推-张三"]), "the phone shows the tag");

        let (status, s) = api(&app, reqwest::Method::GET, &format!("/api/admin/channel-codes/{id}/stats?days=7"), None).await;
        assert_eq!(status, 200, "{s}");
        let totals = |v: &Value| ["scans", "scanners", "new_followers", "existing_followers", "unfollows"].map(|k| v[k].as_u64().unwrap());
        assert_eq!(totals(&s), [4, 3, 2, 1, 1], "{s}");
        let days = s["days"].as_array().unwrap();
        assert_eq!(days.len(), 7);
        assert_eq!(days[6]["date"], beijing_today().as_str());
        assert_eq!(totals(&days[6]), [4, 3, 2, 1, 1]);
        assert_eq!(totals(&days[5]), [0, 0, 0, 0, 0]);

        let (_, list) = api(&app, reqwest::Method::GET, "/api/admin/channel-codes", None).await;
        assert_eq!((list["permanent_used"].as_u64(), list["permanent_limit"].as_u64()), (Some(1), Some(100_000)));
        let listed = &list["codes"][0];
        assert_eq!((listed["scans"].as_u64(), listed["new_followers"].as_u64(), listed["state"].as_str()), (Some(4), Some(2), Some("active")));

        let csv = app.http.get(app.url(&format!("/api/admin/channel-codes/{id}/stats.csv?days=7"))).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        let csv = csv.text().await.unwrap();
        assert!(csv.starts_with('\u{feff}'), "a BOM for Excel");
        assert!(csv.contains(&format!("{},4,3,2,1,1", beijing_today())), "{csv}");
        assert!(csv.contains("合计,4,3,2,1,1"), "{csv}");
        app.stop().await;
    }
}

db_test! {
    async fn a_disabled_code_counts_its_scans_and_sends_nothing(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let code = create(&app, json!({"name": "门店A", "validity": 604800, "reply": {"text": "你好"}, "tag": "门店"})).await;
        let id = code["id"].as_i64().unwrap();
        assert!(code["expires_at"].as_str().unwrap().ends_with("+08:00"), "Beijing time: {code}");
        let (status, off) = api(&app, reqwest::Method::PATCH, &format!("/api/admin/channel-codes/{id}"), Some(json!({"enabled": false}))).await;
        assert_eq!((status, off["state"].as_str(), off["state_zh"].as_str()), (200, Some("disabled"), Some("已停用")));
        let user = app.sandbox_user("路人").await;
        app.sandbox_scan(&user, code["ticket"].as_str().unwrap()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(app.inbox(&user).await.is_empty(), "nothing sent");
        assert_eq!(app.sandbox_stats().await["batchtagging_calls"], 0, "no tag either");
        let (_, s) = api(&app, reqwest::Method::GET, &format!("/api/admin/channel-codes/{id}/stats"), None).await;
        assert_eq!((s["scans"].as_u64(), s["new_followers"].as_u64(), s["days"].as_array().unwrap().len()), (Some(1), Some(1), 30));

        // Back on, the next scan is answered.
        api(&app, reqwest::Method::PATCH, &format!("/api/admin/channel-codes/{id}"), Some(json!({"enabled": true, "reply": {"text": "欢迎再来"}}))).await;
        app.sandbox_scan(&user, code["ticket"].as_str().unwrap()).await;
        assert_eq!(app.wait_for_inbox(&user, 1).await[0]["description"], "欢迎再来");
        app.stop().await;
    }
}

db_test! {
    async fn names_are_unique_among_live_codes_and_a_deleted_one_keeps_its_numbers(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let first = create(&app, json!({"name": "李四", "validity": "permanent"})).await;
        let (status, err) = api(&app, reqwest::Method::POST, "/api/admin/channel-codes", Some(json!({"name": " 李四 ", "validity": "permanent"}))).await;
        assert_eq!(status, 409);
        assert_eq!(err["error"], "已有名为“李四”的渠道码，请换一个名称");
        assert_eq!(app.sandbox_stats().await["qrcode_create_calls"], 1, "refused before WeChat was asked");
        let other = create(&app, json!({"name": "王五", "validity": "permanent"})).await;
        let (status, _) = api(&app, reqwest::Method::PATCH, &format!("/api/admin/channel-codes/{}", other["id"]), Some(json!({"name": "李四"}))).await;
        assert_eq!(status, 409, "renaming onto a live name is refused too");

        let user = app.sandbox_user("顾客").await;
        app.sandbox_scan(&user, first["ticket"].as_str().unwrap()).await;
        let id = first["id"].as_i64().unwrap();
        let (status, _) = api(&app, reqwest::Method::DELETE, &format!("/api/admin/channel-codes/{id}"), None).await;
        assert_eq!(status, 204);
        let (status, _) = api(&app, reqwest::Method::DELETE, &format!("/api/admin/channel-codes/{id}"), None).await;
        assert_eq!(status, 404);
        let (_, gone) = api(&app, reqwest::Method::GET, &format!("/api/admin/channel-codes/{id}"), None).await;
        assert_eq!((gone["state"].as_str(), gone["scans"].as_u64()), (Some("deleted"), Some(1)), "its numbers stay");
        let (_, deleted) = api(&app, reqwest::Method::GET, "/api/admin/channel-codes?state=deleted", None).await;
        assert_eq!(deleted["codes"].as_array().unwrap().len(), 1);
        // The name is free again.
        create(&app, json!({"name": "李四", "validity": "permanent"})).await;
        let (status, _) = api(&app, reqwest::Method::PATCH, &format!("/api/admin/channel-codes/{id}"), Some(json!({"note": "x"}))).await;
        assert_eq!(status, 409, "a deleted code is not changed");
        app.stop().await;
    }
}

db_test! {
    async fn a_temporary_code_past_its_validity_is_shown_expired(db: TestDb) {
        use sea_orm::ConnectionTrait;
        let app = TestApp::spawn(db).await;
        let code = create(&app, json!({"name": "一日活动", "validity": 86400})).await;
        let id = code["id"].as_i64().unwrap();
        let (_, active) = api(&app, reqwest::Method::GET, "/api/admin/channel-codes?state=active", None).await;
        assert_eq!(active["codes"].as_array().unwrap().len(), 1);
        app.state.domain.db.execute_unprepared(&format!("UPDATE channel_codes SET expires_at_ms = 1000 WHERE id = {id}")).await.unwrap();
        let (_, one) = api(&app, reqwest::Method::GET, &format!("/api/admin/channel-codes/{id}"), None).await;
        assert_eq!((one["state"].as_str(), one["state_zh"].as_str()), (Some("expired"), Some("已过期")));
        let (_, expired) = api(&app, reqwest::Method::GET, "/api/admin/channel-codes?state=expired", None).await;
        assert_eq!(expired["codes"][0]["id"], id);
        let (_, active) = api(&app, reqwest::Method::GET, "/api/admin/channel-codes?state=active", None).await;
        assert!(active["codes"].as_array().unwrap().is_empty());
        assert_eq!(app.sandbox_stats().await["qrcode_create_calls"], 1);
        assert_eq!(api(&app, reqwest::Method::GET, "/api/admin/channel-codes", None).await.1["permanent_used"], 0, "a temporary code is not one of the 100,000");
        app.stop().await;
    }
}

db_test! {
    async fn a_batch_makes_a_teams_codes_and_the_zip_holds_each_twice(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let (status, made) = api(&app, reqwest::Method::POST, "/api/admin/channel-codes/batch", Some(json!({"prefix": "地推", "count": 20, "validity": 2592000, "group": "地推队", "tag": "地推"}))).await;
        assert_eq!(status, 201, "{made}");
        let made = made.as_array().unwrap();
        let names: Vec<&str> = made.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names.first(), Some(&"地推-01"));
        assert_eq!(names.last(), Some(&"地推-20"));
        let mut scenes: Vec<&str> = made.iter().map(|c| c["scene"].as_str().unwrap()).collect();
        scenes.sort();
        scenes.dedup();
        assert_eq!(scenes.len(), 20, "20 distinct scenes");
        let (status, again) = api(&app, reqwest::Method::POST, "/api/admin/channel-codes/batch", Some(json!({"prefix": "地推", "count": 3, "validity": "permanent"}))).await;
        assert_eq!(status, 409, "地推-01 is taken: {again}");
        assert_eq!(app.sandbox_stats().await["qrcode_create_calls"], 20);

        let zip = app.http.get(app.url("/api/admin/channel-codes/export.zip?group=地推队")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(zip.status(), 200);
        assert_eq!(zip.headers()["content-type"], "application/zip");
        let bytes = zip.bytes().await.unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        assert_eq!(archive.len(), 40);
        let files: Vec<String> = archive.file_names().map(|n| n.unwrap().into_owned()).collect();
        assert!(files.contains(&"地推-07.png".to_owned()) && files.contains(&"地推-07.svg".to_owned()), "{files:?}");
        let svg = std::io::read_to_string(archive.by_name("地推-07.svg").unwrap()).unwrap();
        assert!(svg.contains("<svg"), "{svg}");

        let id = made[6]["id"].as_i64().unwrap();
        let png = app.http.get(app.url(&format!("/api/admin/channel-codes/{id}.png?size=860&label=1"))).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(png.headers()["content-type"], "image/png");
        let decoder = png::Decoder::new(std::io::Cursor::new(png.bytes().await.unwrap().to_vec()));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!(info.width, 860);
        if scanquote::images::text::font().is_some() {
            assert!(info.height > 860, "the name is printed under the code");
        } else {
            // As the unit test of the label: without a CJK font the code is printed bare.
            assert!(std::env::var_os("CI").is_none(), "CI installs a CJK font (see .ci/run)");
            assert_eq!(info.height, 860, "no font, no name, no room for one");
            eprintln!("no CJK font: the printed name is not checked (apt-get install fonts-wqy-zenhei)");
        }
        let (status, err) = api(&app, reqwest::Method::GET, &format!("/api/admin/channel-codes/{id}.png?size=500"), None).await;
        assert_eq!((status, err["field"].as_str()), (400, Some("size")));
        let signed_out = app.get(&format!("/api/admin/channel-codes/{id}.png")).await;
        assert_eq!(signed_out.status(), 401);
        app.stop().await;
    }
}

db_test! {
    async fn every_bad_setting_is_refused_in_chinese_naming_its_field(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let long = "名".repeat(65);
        for (body, field) in [
            (json!({"name": "", "validity": "permanent"}), "name"),
            (json!({"name": long, "validity": "permanent"}), "name"),
            (json!({"name": "a", "validity": 59}), "validity"),
            (json!({"name": "a", "validity": 2_592_001}), "validity"),
            (json!({"name": "a", "validity": "forever"}), "validity"),
            (json!({"name": "a", "validity": true}), "validity"),
            (json!({"name": "a", "validity": "permanent", "reply": {"text": " "}}), "reply.text"),
            (json!({"name": "a", "validity": "permanent", "welcome": {"news": {"title": "t", "url": "javascript:alert(1)"}}}), "welcome.news.url"),
            (json!({"name": "a", "validity": "permanent", "reply": {"news": {"title": "{{ total_money }}", "url": "https://a.example/"}}}), "reply.news.title"),
            (json!({"name": "a", "validity": "permanent", "reply": {"news": {"title": "", "url": "https://a.example/"}}}), "reply.news.title"),
            (json!({"name": "a", "validity": "permanent", "tag": "标".repeat(31)}), "tag"),
            (json!({"name": "a", "validity": "permanent", "group": "组".repeat(33)}), "group"),
            (json!({"validity": "permanent"}), "name"),
            (json!({"name": "a", "validity": "permanent", "reply": 5}), "reply"),
            (json!({"name": "a", "validity": "permanent", "tag": ["x"]}), "tag"),
        ] {
            let (status, err) = api(&app, reqwest::Method::POST, "/api/admin/channel-codes", Some(body.clone())).await;
            assert_eq!((status, err["field"].as_str()), (400, Some(field)), "{body} → {err}");
            let words = err["error"].as_str().unwrap();
            assert!(words.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "in Chinese: {words}");
        }
        assert_eq!(app.sandbox_stats().await["qrcode_create_calls"], 0, "nothing reached WeChat");
        assert_eq!(app.count("channel_codes").await, 0);
        for (path, field) in [
            ("/api/admin/channel-codes?state=old", "state"),
            ("/api/admin/channel-codes/1/stats?days=0", "days"),
        ] {
            let (status, err) = api(&app, reqwest::Method::GET, path, None).await;
            assert_eq!((status, err["field"].as_str()), (400, Some(field)), "{path}: {err}");
        }
        let (status, _) = api(&app, reqwest::Method::POST, "/api/admin/channel-codes/batch", Some(json!({"prefix": "x", "count": 101, "validity": "permanent"}))).await;
        assert_eq!(status, 400);
        for path in ["/api/admin/channel-codes/999", "/api/admin/channel-codes/abc", "/api/admin/channel-codes/999.png"] {
            assert_eq!(api(&app, reqwest::Method::GET, path, None).await.0, 404, "{path}");
        }
        app.stop().await;
    }
}

db_test! {
    async fn a_code_wechat_refuses_leaves_nothing_half_made(db: TestDb) {
        let app = TestApp::spawn(db).await;
        app.sandbox_fault(json!({"api": "qrcode_create", "errcode": 45009, "count": 1})).await;
        let (status, err) = api(&app, reqwest::Method::POST, "/api/admin/channel-codes", Some(json!({"name": "谜语一", "validity": "permanent", "reply": {"text": "谜底"}}))).await;
        assert_eq!(status, 502, "{err}");
        assert_eq!(app.count("channel_codes").await, 0, "nothing half-made is left");
        assert_eq!(app.count("qr_codes").await, 0);
        create(&app, json!({"name": "谜语一", "validity": "permanent", "reply": {"text": "谜底"}})).await;
        app.stop().await;
    }
}

db_test! {
    async fn in_passive_mode_a_reply_goes_back_in_the_push_answer(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let (status, _) = api(&app, reqwest::Method::PUT, "/api/admin/settings", Some(json!({"delivery_mode": "passive_reply"}))).await;
        assert_eq!(status, 200);
        let code = create(&app, json!({"name": "谜语", "validity": "permanent", "reply": {"text": "谜底是月亮"}})).await;
        let user = app.sandbox_user("猜谜的人").await;
        let scanned = app.sandbox_scan(&user, code["ticket"].as_str().unwrap()).await;
        assert!(scanned["reply_text"].as_str().unwrap_or_default().contains("谜底是月亮"), "{scanned}");
        assert_eq!(app.sandbox_stats().await["custom_send_calls"], 0, "no customer-service message");
        let inbox = app.inbox(&user).await;
        assert_eq!((inbox.len(), inbox[0]["via"].as_str()), (1, Some("passive")));
        let listed: Value = app.http.get(app.url("/api/admin/deliveries")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
        let reply = listed["items"].as_array().unwrap().iter().find(|d| d["kind"] == "reply").cloned();
        assert_eq!(reply.map(|d| d["status"].clone()), Some(json!("sent")), "{listed}");
        app.stop().await;
    }
}

db_test! {
    async fn promoter_codes_and_scene_replies_of_old_become_channel_codes_with_their_numbers(db: TestDb) {
        use migration::MigratorTrait;
        use sea_orm::ConnectionTrait;
        let fresh = crate::support::fresh_database(&db).await;
        let conn = sea_orm::Database::connect(fresh.url.as_str()).await.unwrap();
        migration::Migrator::up(&conn, Some(9)).await.unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        for sql in [
            format!("INSERT INTO qr_codes (id, ticket, url, kind, scene, target, expires_at_ms, created_at_ms) VALUES (1, 'tk-promoter-7', 'http://weixin.qq.com/q/p7', 'promoter', '7', '7', NULL, {now})"),
            format!("INSERT INTO qr_codes (id, ticket, url, kind, scene, target, expires_at_ms, created_at_ms) VALUES (2, 'tk-riddle', 'http://weixin.qq.com/q/r1', 'reply', 'riddle-1', 'riddle-1', NULL, {now})"),
            format!("INSERT INTO qr_codes (id, ticket, url, kind, scene, target, expires_at_ms, created_at_ms) VALUES (3, 'tk-seven', 'http://weixin.qq.com/q/s7', 'promoter', 'seven', 'riddle-1', NULL, {now})"),
            format!("INSERT INTO scene_replies (id, scene, text, qr_code_id, created_at_ms, updated_at_ms) VALUES (1, 'riddle-1', '谜底是月亮', 2, {now}, {now})"),
            format!("INSERT INTO scans (id, event_identity, openid, event, scene, ticket, qr_code_id, order_id, event_time, received_at_ms) VALUES (1, 'a', 'oA', 'subscribe', '7', 'tk-promoter-7', 1, NULL, 1, {now})"),
            format!("INSERT INTO scans (id, event_identity, openid, event, scene, ticket, qr_code_id, order_id, event_time, received_at_ms) VALUES (2, 'b', 'oB', 'SCAN', '7', 'tk-promoter-7', 1, NULL, 2, {now})"),
            format!("INSERT INTO scans (id, event_identity, openid, event, scene, ticket, qr_code_id, order_id, event_time, received_at_ms) VALUES (3, 'c', 'oA', 'SCAN', 'riddle-1', 'tk-riddle', 2, NULL, 3, {now})"),
        ] {
            conn.execute_unprepared(&sql).await.unwrap();
        }
        conn.close().await.unwrap();

        let app = TestApp::start(fresh, &[]).await;
        let (_, list) = api(&app, reqwest::Method::GET, "/api/admin/channel-codes", None).await;
        let codes = list["codes"].as_array().unwrap();
        let by_name = |n: &str| codes.iter().find(|c| c["name"] == n).unwrap_or_else(|| panic!("{n} in {list}")).clone();
        let promoter = by_name("7");
        assert_eq!((promoter["scans"].as_u64(), promoter["new_followers"].as_u64(), promoter["ticket"].as_str()), (Some(2), Some(1), Some("tk-promoter-7")));
        assert_eq!(promoter["reply"], Value::Null);
        let riddle = by_name("riddle-1（场景回复）");
        assert_eq!((riddle["scans"].as_u64(), riddle["reply"].clone()), (Some(1), json!({"text": "谜底是月亮"})));
        assert_eq!(by_name("riddle-1")["ticket"], "tk-seven", "a promoter keeps its own name");
        assert_eq!(list["permanent_used"], 3);
        let (_, s) = api(&app, reqwest::Method::GET, &format!("/api/admin/channel-codes/{}/stats", promoter["id"]), None).await;
        assert_eq!((s["scans"].as_u64(), s["scanners"].as_u64(), s["new_followers"].as_u64(), s["existing_followers"].as_u64()), (Some(2), Some(2), Some(1), Some(1)));

        // Its printed code keeps working: a scan of the old ticket is the channel code's.
        let r = app.push(scan_xml("oC", "SCAN", "riddle-1", Some("tk-riddle"), chrono::Utc::now().timestamp())).await;
        assert_eq!(r.status(), 200);
        let (_, riddle) = api(&app, reqwest::Method::GET, &format!("/api/admin/channel-codes/{}", riddle["id"]), None).await;
        assert_eq!(riddle["scans"], 2);
        let kinds = app.count("deliveries WHERE kind = 'reply'").await;
        assert_eq!(kinds, 1, "its reply is queued");
        for gone in ["/api/admin/promoters", "/api/admin/scene-replies"] {
            assert_eq!(api(&app, reqwest::Method::GET, gone, None).await.0, 404, "{gone}");
        }
        app.stop().await;
    }
}

db_test! {
    async fn tags_go_through_wechats_tag_api_once_per_name_and_a_failed_one_is_retried(db: TestDb) {
        let (base, recorded) = stand_in().await;
        // The account has a tag of that name already, made elsewhere.
        recorded.lock().unwrap().tags.push((100, "老客户".into()));
        let app = TestApp::spawn_with(db, &[
            ("WECHAT_APP_ID", APP_ID), ("WECHAT_APP_SECRET", SECRET),
            ("WECHAT_TOKEN", TOKEN), ("WECHAT_API_BASE", &base),
        ]).await;
        let code = create(&app, json!({"name": "张三", "validity": "permanent", "reply": {"text": "你好"}, "tag": "地推-张三"})).await;
        let ticket = code["ticket"].as_str().unwrap();
        let scene = code["scene"].as_str().unwrap();
        // The first tagging fails for WeChat's own reasons: retried, and the reply is not held up.
        recorded.lock().unwrap().tagging_script.push_back(json!({"errcode": -1, "errmsg": "system busy"}));
        let now = chrono::Utc::now().timestamp();
        for (openid, event) in [("oTagA", "subscribe"), ("oTagB", "subscribe"), ("oTagC", "SCAN")] {
            let key = if event == "subscribe" { format!("qrscene_{scene}") } else { scene.to_owned() };
            assert_eq!(app.push(scan_xml(openid, event, &key, Some(ticket), now)).await.status(), 200);
        }
        for _ in 0..100 {
            if recorded.lock().unwrap().tagged.len() == 3 && recorded.lock().unwrap().sends.len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        {
            let r = recorded.lock().unwrap();
            assert_eq!(r.tag_creates, ["地推-张三"], "one tags/create for the name");
            let mut openids: Vec<String> = r.tagged.iter().flat_map(|(id, o)| { assert_eq!(*id, 101); o.clone() }).collect();
            openids.sort();
            assert_eq!(openids, ["oTagA", "oTagB", "oTagC"]);
            assert_eq!(r.sends.len(), 3, "every scanner got the reply");
        }
        settle(&app).await;
        assert_eq!(app.count("deliveries WHERE kind = 'tag' AND status = 'sent'").await, 3);

        // A tag the account has already: 45157 on create, its id read from tags/get.
        let other = create(&app, json!({"name": "回头客", "validity": "permanent", "tag": "老客户"})).await;
        let scene = other["scene"].as_str().unwrap();
        app.push(scan_xml("oTagD", "SCAN", scene, other["ticket"].as_str(), now + 1)).await;
        for _ in 0..100 {
            if recorded.lock().unwrap().tagged.len() == 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        {
            let r = recorded.lock().unwrap();
            assert_eq!(r.tag_gets, 1);
            assert_eq!(r.tagged.last().unwrap(), &(100, vec!["oTagD".to_owned()]));
        }
        app.stop().await;
    }
}
