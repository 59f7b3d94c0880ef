//! The shop's server and its orders: site keys, its own reference and fields, and
//! nothing an outsider can mint or guess.

use serde_json::{Value, json};

use crate::db_test;
use crate::support::{ADMIN_TOKEN, TestApp};

const ARTICLE: &str = r#"{"total_money": 12800, "saved_money": "3200.50", "room_area": 88}"#;

async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method, app.url(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn has_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

db_test! {
    async fn an_order_is_stored_exactly_and_read_back_by_reference_and_token(db: TestDb) {
        let app = TestApp::spawn(db).await;

        let created = app.create_order(r#"{"external_id": "A-1001", "fields": {"total_money": 12800.10, "saved_money": "3200.5", "room_area": 88.5}}"#).await;

        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        assert_eq!(created["fields"], json!({"total_money": "12800.10", "saved_money": "3200.50", "room_area": "88.5"}));
        assert_eq!(created["external_id"], "A-1001");
        let token = created["token"].as_str().unwrap();
        assert_eq!(token.len(), 32, "192 random bits, base64url");
        assert_eq!(created["page_url"], format!("{}/orders/{token}", app.base));
        assert_eq!(created["qrcode_url"], format!("{}/api/orders/{token}/qrcode", app.base));
        assert_eq!(created["status"], "waiting");
        for reference in ["A-1001", token] {
            let read: Value = app.get_order(reference).await.json().await.unwrap();
            assert_eq!(read, created, "{reference}");
        }
        let code: Value = app.get(&format!("/api/orders/{token}/qrcode")).await.json().await.unwrap();
        for key in ["ticket", "url", "expire_seconds", "expires_at", "image_url", "svg_url"] {
            assert!(!code[key].is_null(), "the code's {key}");
        }
        app.stop().await;
    }
}

db_test! {
    async fn no_wrong_or_revoked_key_creates_or_reads_anything(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let (status, made) = admin(&app, reqwest::Method::POST, "/api/admin/site-keys", Some(json!({"name": "官网"}))).await;
        assert_eq!(status, 201);
        let key = made["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("sk_"));
        let (_, listed) = admin(&app, reqwest::Method::GET, "/api/admin/site-keys", None).await;
        assert!(listed.to_string().contains("官网") && !listed.to_string().contains(&key), "names, never keys: {listed}");
        let post = |auth: Option<String>| {
            let mut req = app.http.post(app.url("/api/orders")).body(ARTICLE);
            if let Some(auth) = auth {
                req = req.header("authorization", auth);
            }
            req.send()
        };
        assert_eq!(post(Some(format!("Bearer {key}"))).await.unwrap().status(), 201, "the key works");

        let (status, _) = admin(&app, reqwest::Method::DELETE, &format!("/api/admin/site-keys/{}", made["id"]), None).await;
        assert_eq!(status, 204);
        for auth in [None, Some("Bearer sk_wrong".to_owned()), Some(format!("Bearer {key}")), Some(key.clone()), Some(format!("Bearer {ADMIN_TOKEN}"))] {
            let r = post(auth.clone()).await.unwrap();
            assert_eq!(r.status(), 401, "{auth:?}");
            let err: Value = r.json().await.unwrap();
            assert!(has_chinese(err["error"].as_str().unwrap()), "{err}");
            let read = app.http.get(app.url("/api/orders/whatever")).header("authorization", auth.unwrap_or_default()).send().await.unwrap();
            assert_eq!(read.status(), 401);
        }
        assert_eq!(app.count("orders").await, 1, "only the one made with the key in force");
        app.stop().await;
    }
}

db_test! {
    async fn the_same_reference_twice_is_one_order(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let body = r#"{"external_id": "A-1001", "total_money": 12800, "saved_money": 1, "room_area": 88}"#;
        let first = app.create_order(body).await;
        let again = app.create_order(body).await;

        assert_eq!((first.status(), again.status()), (reqwest::StatusCode::CREATED, reqwest::StatusCode::OK));
        let (first, again): (Value, Value) = (first.json().await.unwrap(), again.json().await.unwrap());
        assert_eq!(first["token"], again["token"]);
        assert_eq!(app.count("orders").await, 1);
        let other = app.create_order(r#"{"external_id": "A-1001", "total_money": 1, "saved_money": 1, "room_area": 88}"#).await;
        assert_eq!(other.status(), 409, "the same reference for another quote");
        assert!(has_chinese(other.json::<Value>().await.unwrap()["error"].as_str().unwrap()));
        assert_eq!(app.count("orders").await, 1);
        app.stop().await;
    }
}

db_test! {
    async fn bad_orders_are_refused_naming_the_field_in_chinese_and_nothing_is_stored(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let cases = [
            (r#"{"saved_money": 1, "room_area": 1}"#, Some("total_money"), "不能为空"),
            (r#"{"total_money": -5, "saved_money": 1, "room_area": 1}"#, Some("total_money"), "不能为负数"),
            (r#"{"total_money": 5, "saved_money": "lots", "room_area": 1}"#, Some("saved_money"), "必须是数字"),
            (r#"{"total_money": 5.123, "saved_money": 1, "room_area": 1}"#, Some("total_money"), "最多保留 2 位小数"),
            (r#"{"total_money": 5, "saved_money": 1, "room_area": "1.23456"}"#, Some("room_area"), "最多保留 4 位小数"),
            (r#"{"total_money": 5, "saved_money": 1, "room_area": [1]}"#, Some("room_area"), "应为小数"),
            (r#"{"total_money": 1e30, "saved_money": 1, "room_area": 1}"#, Some("total_money"), "数值过大"),
            (r#"{"total_money": 5, "saved_money": 1, "room_area": 1, "colour": "red"}"#, Some("colour"), "没有 colour 这个字段"),
            (r#"{"fields": {"total_money": 5, "saved_money": 1, "room_area": 1, "discount": 3}}"#, Some("discount"), "没有 discount 这个字段"),
            (r#"{"external_id": 7, "total_money": 5, "saved_money": 1, "room_area": 1}"#, Some("external_id"), "external_id"),
            (r#"{"external_id": "", "total_money": 5, "saved_money": 1, "room_area": 1}"#, Some("external_id"), "external_id"),
            (r#"{"total_money": 5, "saved_money": 1, "room_area": 1, "items": [{"name": "地板", "quantity": 2, "unit_price": "9.99", "amount": "20"}]}"#, Some("items"), "19.98"),
            (r#"not json"#, None, "请求体必须是 JSON 对象"),
            (r#""#, None, "请求体必须是 JSON 对象"),
        ];
        for (body, field, reason) in cases {
            let r = app.create_order(body).await;
            assert_eq!(r.status(), 400, "{body}");
            let err: Value = r.json().await.unwrap();
            assert_eq!(err["field"].as_str(), field, "{body}: {err}");
            assert!(err["error"].as_str().unwrap().contains(reason), "{body}: {err}");
        }
        assert_eq!(app.count("orders").await, 0);
        app.stop().await;
    }
}

db_test! {
    async fn a_bare_id_or_a_neighbours_token_finds_nothing(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let order = app.new_order().await;
        let id = order.id;
        let mut neighbour = order.token.clone().into_bytes();
        neighbour[31] = if neighbour[31] == b'A' { b'B' } else { b'A' };
        let neighbour = String::from_utf8(neighbour).unwrap();
        for reference in [id.to_string(), neighbour.clone(), "0".into(), "-1".into(), "99999999999".into(), "abc".into()] {
            for path in [format!("/orders/{reference}"), format!("/api/orders/{reference}/qrcode"), format!("/api/orders/{reference}/status"), format!("/orders/{reference}/qrcode.png")] {
                assert_eq!(app.get(&path).await.status(), 404, "{path}");
            }
            assert_eq!(app.get_order(&reference).await.status(), 404, "{reference} by the key");
        }
        assert_eq!(app.get(&format!("/orders/{}", order.token)).await.status(), 200, "the token itself works");
        assert_eq!(app.sandbox_stats().await["qrcode_create_calls"], 0);
        app.stop().await;
    }
}

db_test! {
    async fn a_shops_own_fields_reach_the_card_and_the_quote_page(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let schema = json!([
            {"name": "destination", "label": "目的地", "type": "text", "required": true},
            {"name": "departure", "label": "出发日期", "type": "date", "required": true},
            {"name": "nights", "label": "晚数", "type": "integer", "required": true},
            {"name": "price", "label": "团费", "type": "money", "required": true},
            {"name": "note", "label": "备注", "type": "text", "required": false}
        ]);
        let (status, saved) = admin(&app, reqwest::Method::PUT, "/api/admin/order-fields", Some(schema.clone())).await;
        assert_eq!((status, &saved), (200, &schema));
        let (status, err) = admin(&app, reqwest::Method::PUT, "/api/admin/order-fields", Some(json!([{"name": "Bad Name", "label": "x", "type": "text"}]))).await;
        assert_eq!(status, 400, "{err}");
        let template = json!({"title": "{{ destination }} {{ nights }} 晚 · {{ price }} 元", "description": "出发：{{ departure }}\n共 {{ items | length }} 项", "pic_url": "", "link": "{{ quote_url }}"});
        let (status, _) = admin(&app, reqwest::Method::PUT, "/api/admin/template", Some(template)).await;
        assert_eq!(status, 200);
        let (status, err) = admin(&app, reqwest::Method::PUT, "/api/admin/template", Some(json!({"title": "{{ total_money }}", "description": "", "pic_url": "", "link": "{{ quote_url }}"}))).await;
        assert_eq!((status, err["field"].as_str()), (400, Some("title")), "a field the schema no longer has");
        assert!(err["error"].as_str().unwrap().contains("total_money"), "{err}");

        let created = app.create_order(r#"{"external_id": "T-88", "fields": {"destination": "三亚", "departure": "2027-01-20", "nights": 5, "price": "6999"},
            "items": [{"name": "机票", "quantity": 2, "unit_price": "1500.50", "amount": "3001.00"}, {"name": "酒店", "quantity": "5", "unit_price": 799.6, "amount": 3998}]}"#).await;
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        let token = created["token"].as_str().unwrap();
        let ticket: Value = app.get(&format!("/api/orders/{token}/qrcode")).await.json().await.unwrap();
        let openid = app.sandbox_user("旅行者").await;
        app.sandbox_scan(&openid, ticket["ticket"].as_str().unwrap()).await;

        let card = &app.wait_for_inbox(&openid, 1).await[0];
        assert_eq!(card["title"], "三亚 5 晚 · 6999 元");
        assert_eq!(card["description"], "出发：2027年1月20日\n共 2 项");
        let page = app.http.get(card["url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
        for shown in ["<dt>目的地</dt><dd>三亚</dd>", "<dt>出发日期</dt><dd>2027年1月20日</dd>", "<dt>团费</dt><dd>6999 元</dd>", "T-88", "<td>机票</td><td>2</td><td>1500.50</td><td>3001</td>", "<td>酒店</td>"] {
            assert!(page.contains(shown), "the quote page shows {shown}");
        }
        assert!(!page.contains("备注"), "an optional field left out is not shown");
        app.stop().await;
    }
}

db_test! {
    async fn orders_and_messages_written_before_the_upgrade_keep_their_figures(db: TestDb) {
        use migration::MigratorTrait;
        use sea_orm::{ConnectionTrait, EntityTrait};
        let fresh = crate::support::fresh_database(&db).await;
        let conn = sea_orm::Database::connect(fresh.url.as_str()).await.unwrap();
        migration::Migrator::up(&conn, Some(6)).await.unwrap();
        for sql in [
            "INSERT INTO orders (id, total_cents, saved_cents, room_area_centi, created_at_ms) VALUES (7, 1280000, 320050, 8850, 1764547200000)",
            "INSERT INTO deliveries (id, scan_id, openid, order_id, status, attempts, next_attempt_at_ms, lease_until_ms, deadline_at_ms, errcode, errmsg, sent_at_ms, created_at_ms, updated_at_ms, claim_token) \
             VALUES (3, 11, 'oOldUser', 7, 'sent', 1, 0, 0, 0, NULL, NULL, 1764547201000, 1764547200000, 1764547201000, 'x')",
        ] {
            conn.execute_unprepared(sql).await.unwrap();
        }
        conn.close().await.unwrap();

        let app = TestApp::start(fresh, &[]).await;

        let old = entity::order::Entity::find_by_id(7).one(&app.state.domain.db).await.unwrap().unwrap();
        let token = old.token.clone().unwrap();
        assert_eq!(token.len(), 32);
        let fields: Value = serde_json::from_str(old.fields.as_deref().unwrap()).unwrap();
        let values: Vec<(&str, &str)> = fields.as_array().unwrap().iter().map(|f| (f["name"].as_str().unwrap(), f["value"].as_str().unwrap())).collect();
        assert_eq!(values, [("total_money", "12800.00"), ("saved_money", "3200.50"), ("room_area", "88.5")]);
        let page = app.get(&format!("/orders/{token}")).await.text().await.unwrap();
        assert!(page.contains("12800 元") && page.contains("<dd>111</dd>"), "the figures and the building area: {page}");
        let status: Value = app.get(&format!("/api/orders/{token}/status")).await.json().await.unwrap();
        assert_eq!(status["status"], "sent", "its message is still known");
        let d = entity::delivery::Entity::find_by_id(3).one(&app.state.domain.db).await.unwrap().unwrap();
        assert_eq!((d.kind.as_str(), d.scan_id, d.order_id), ("message", Some(11), Some(7)));
        // New orders go on from there, with their own token.
        let next = app.new_order().await;
        assert!(next.id > 7 && next.token != token);
        app.stop().await;
    }
}
