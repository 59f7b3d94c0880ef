//! The whole flow through the sandbox: order → QR → scan → news message → quote page.

use serde_json::Value;

use crate::db_test;
use crate::support::TestApp;

/// Opens the card's link the way the shopper's phone would.
async fn open(app: &TestApp, url: &str) -> (u16, String) {
    let r = app.http.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

db_test! {
    async fn a_new_follower_gets_one_news_card_with_the_quote(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let order = app.new_order().await;
        let id = order.id;
        let ticket = app.qrcode(&order).await["ticket"].as_str().unwrap().to_owned();
        let openid = app.sandbox_user("新朋友").await;

        let pushed = app.sandbox_scan(&openid, &ticket).await;

        assert_eq!(pushed["event"], "subscribe");
        assert_eq!(pushed["event_key"], format!("qrscene_{}", app.scene_of(&ticket).await));
        assert_eq!(pushed["outcome"], "200");
        assert_eq!(pushed["reply"], "success");
        let inbox = app.wait_for_inbox(&openid, 1).await;
        assert_eq!(inbox.len(), 1, "{inbox:?}");
        let card = &inbox[0];
        assert_eq!(card["msgtype"], "news");
        assert_eq!(card["title"], "您的报价已保存：110㎡ 仅需 12800 元");
        assert_eq!(
            card["description"],
            "建筑面积：110㎡\n我们的报价：12800 元\n市场价：16000.50 元\n为您节省：3200.50 元\n点击查看报价详情"
        );
        assert_eq!(card["picurl"], format!("{}/static/card.png", app.base));
        let picture = app.http.get(card["picurl"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(picture.headers()["content-type"], "image/png");

        let phone = app.get(&format!("/sandbox/phone/{openid}")).await;
        assert_eq!(phone.status(), 200, "the sandbox inbox page renders");
        assert!(phone.text().await.unwrap().contains("/sandbox/open?url="));
        let url = card["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{}/quote?openid={openid}&order_id={id}&sig=", app.base)), "{url}");
        let (status, page) = open(&app, url).await;
        assert_eq!(status, 200);
        for figure in ["报价单", "套内面积（㎡）</dt><dd>88</dd>", "建筑面积（㎡）</dt><dd>110</dd>", "12800 元", "16000.50 元", "3200.50 元", "微信用户"] {
            assert!(page.contains(figure), "quote page lacks {figure}");
        }
        let status: Value = app.get(&format!("/api/orders/{}/status", order.token)).await.json().await.unwrap();
        assert_eq!(status["status"], "sent");
        let deliveries = app.deliveries().await;
        assert_eq!(deliveries.len(), 1);
        assert_eq!((deliveries[0].status.as_str(), deliveries[0].attempts), ("sent", 1));
        app.stop().await;
    }
}

db_test! {
    async fn an_existing_follower_gets_one_card_per_scan(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let openid = app.sandbox_user("老朋友").await;
        let first_order = app.new_order().await;
        let second_order = app.new_order().await;
        let second = second_order.id;
        let t1 = app.qrcode(&first_order).await["ticket"].as_str().unwrap().to_owned();
        let t2 = app.qrcode(&second_order).await["ticket"].as_str().unwrap().to_owned();
        app.sandbox_scan(&openid, &t1).await;
        app.wait_for_inbox(&openid, 1).await;

        let pushed = app.sandbox_scan(&openid, &t2).await;

        assert_eq!(pushed["event"], "SCAN");
        assert_eq!(pushed["event_key"], app.scene_of(&t2).await);
        let inbox = app.wait_for_inbox(&openid, 2).await;
        assert_eq!(inbox.len(), 2);
        assert!(inbox[1]["url"].as_str().unwrap().contains(&format!("order_id={second}&")));
        app.stop().await;
    }
}

db_test! {
    async fn a_tampered_link_is_not_found(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let order = app.new_order().await;
        let id = order.id;
        let other_order = app.new_order().await;
        let other = other_order.id;
        let ticket = app.qrcode(&order).await["ticket"].as_str().unwrap().to_owned();
        let openid = app.sandbox_user("链接").await;
        app.sandbox_scan(&openid, &ticket).await;
        let url = app.wait_for_inbox(&openid, 1).await[0]["url"].as_str().unwrap().to_owned();
        let sig = url.split("sig=").nth(1).unwrap().to_owned();
        assert_eq!(open(&app, &url).await.0, 200);

        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for tampered in [
            url.replace(&sig, &flipped),
            url.replace(&format!("order_id={id}"), &format!("order_id={other}")),
            url.replace(&openid, "oSomeoneElse"),
            url.split("&sig=").next().unwrap().to_owned(),
            format!("{}/quote?order_id={id}&sig={sig}", app.base),
            format!("{}/quote", app.base),
        ] {
            let (status, page) = open(&app, &tampered).await;
            assert_eq!(status, 404, "{tampered}");
            assert!(!page.contains("12800"), "a 404 shows no order");
        }
        app.stop().await;
    }
}

db_test! {
    async fn a_fresh_orders_scan_does_not_read_the_order_again(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let order = app.new_order().await;
        let id = order.id;
        let ticket = app.qrcode(&order).await["ticket"].as_str().unwrap().to_owned();
        let openid = app.sandbox_user("缓存").await;
        // Behind the service's back, the order's row goes: what the scan and the send
        // know of the order now comes only from what creating it left in the cache.
        use sea_orm::EntityTrait;
        entity::order::Entity::delete_by_id(id).exec(&app.state.domain.db).await.unwrap();
        assert_eq!(app.get_order(&order.token).await.status(), 404, "the row is gone");

        app.sandbox_scan(&openid, &ticket).await;

        let inbox = app.wait_for_inbox(&openid, 1).await;
        assert_eq!(inbox[0]["title"], "您的报价已保存：110㎡ 仅需 12800 元");
        app.stop().await;
    }
}

db_test! {
    async fn one_step_of_the_worker_sends_what_is_due_and_the_next_finds_nothing(db: TestDb) {
        use scanquote::quote::orders::input::read_json;
        use scanquote::quote::outbox::worker::{Step, Worker};
        use sea_orm::{ActiveModelTrait, Set};
        let (api, recorded) = crate::stand_in::stand_in().await;
        let fresh = crate::support::fresh_database(&db).await;
        let vars = std::collections::HashMap::from([
            ("DATABASE_URL", fresh.url.as_str()), ("BIND_ADDR", "127.0.0.1:0"),
            ("WECHAT_APP_ID", crate::stand_in::APP_ID), ("WECHAT_APP_SECRET", crate::stand_in::SECRET),
            ("WECHAT_TOKEN", crate::stand_in::TOKEN), ("WECHAT_API_BASE", api.as_str()),
        ]);
        let config = scanquote::Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap();
        // Built, not served: no worker of its own runs, so the test's is the only one.
        let app = scanquote::App::build(config).await.unwrap();
        let domain = app.state().domain.clone();
        let schema = domain.schemas.current().await.unwrap();
        let new = read_json(br#"{"total_money": 1, "saved_money": 0, "room_area": 1}"#, &schema).unwrap();
        let (order, _) = domain.orders.create(None, new).await.unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        entity::delivery::ActiveModel {
            kind: Set("message".into()), scan_id: Set(Some(1)), openid: Set("oStep01".into()), order_id: Set(Some(order.id)),
            status: Set("pending".into()), attempts: Set(0), next_attempt_at_ms: Set(now - 1),
            lease_until_ms: Set(0), deadline_at_ms: Set(now + 50_000), created_at_ms: Set(now),
            updated_at_ms: Set(now), ..Default::default()
        }.insert(&domain.db).await.unwrap();
        let mut worker = Worker::new(domain.clone());

        let first = worker.deliver_next().await.unwrap();
        worker.wait_for_sends().await;
        let second = worker.deliver_next().await.unwrap();

        assert_eq!(first, Step::Started(1));
        assert_eq!(second, Step::Idle);
        let sent: Vec<_> = recorded.lock().unwrap().sends.iter().map(|s| s["touser"].clone()).collect();
        assert_eq!(sent, ["oStep01"]);
        use sea_orm::EntityTrait;
        let row = entity::delivery::Entity::find().one(&domain.db).await.unwrap().unwrap();
        assert_eq!((row.status.as_str(), row.attempts), ("sent", 1));
    }
}
