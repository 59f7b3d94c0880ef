//! Temporary QR tickets and their images.

use futures::future::join_all;
use serde_json::Value;

use crate::db_test;
use crate::support::TestApp;

db_test! {
    async fn an_order_gets_a_half_hour_ticket_that_reloading_reuses(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let order = app.new_order().await;

        let first = app.qrcode(&order).await;
        let again = app.qrcode(&order).await;

        assert_eq!(first["ticket"], again["ticket"]);
        assert!(first["url"].as_str().unwrap().starts_with("http://weixin.qq.com/q/"));
        let left = first["expire_seconds"].as_i64().unwrap();
        assert!((1790..=1800).contains(&left), "{left}");
        assert!(first["expires_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(first["image_url"], format!("{}/orders/{}/qrcode.png", app.base, order.token));
        // The showqrcode address carries the ticket URL-encoded and serves an image.
        let show = first["showqrcode_url"].as_str().unwrap();
        assert!(!show.split("ticket=").nth(1).unwrap().contains(['+', '/', '=']), "{show}");
        assert_eq!(app.http.get(show).send().await.unwrap().status(), 200);
        assert_eq!(app.sandbox_stats().await["qrcode_create_calls"], 1);
        // A fresh process (new cache) still reuses the stored ticket.
        app.state.domain.tickets.forget_all();
        assert_eq!(app.qrcode(&order).await["ticket"], first["ticket"]);
        assert_eq!(app.sandbox_stats().await["qrcode_create_calls"], 1);
        app.stop().await;
    }
}

db_test! {
    async fn a_hundred_concurrent_qr_requests_fetch_one_token(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let mut ids = Vec::new();
        for _ in 0..50 {
            ids.push(app.new_order().await);
        }
        // 50 different orders and the same order 50 times, all at once.
        let same = ids[0].clone();
        let requests = ids.iter().chain(std::iter::repeat_n(&same, 50)).map(|order| app.qrcode(order));

        let answers: Vec<Value> = join_all(requests).await;

        assert_eq!(answers.len(), 100);
        let stats = app.sandbox_stats().await;
        assert_eq!(stats["stable_token_calls"].as_u64().unwrap() + stats["token_calls"].as_u64().unwrap(), 1, "{stats}");
        assert_eq!(stats["qrcode_create_calls"], 50, "one creation per order: {stats}");
        assert_eq!(app.state.domain.wechat.tokens().fetch_count(), 1);
        app.stop().await;
    }
}

db_test! {
    async fn images_are_drawn_locally_and_cacheable(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let order = app.new_order().await;
        let token = &order.token;

        let png = app.get(&format!("/orders/{token}/qrcode.png")).await;
        assert_eq!(png.status(), 200);
        assert_eq!(png.headers()["content-type"], "image/png");
        let cache = png.headers()["cache-control"].to_str().unwrap().to_owned();
        let max_age: i64 = cache.strip_prefix("public, max-age=").unwrap().parse().unwrap();
        assert!((1600..=1740).contains(&max_age), "{cache}");
        let etag = png.headers()["etag"].clone();
        assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));

        let svg = app.get(&format!("/orders/{token}/qrcode.svg")).await;
        assert_eq!(svg.headers()["content-type"], "image/svg+xml");
        assert!(svg.text().await.unwrap().contains("<svg"));

        let again = app.http.get(app.url(&format!("/orders/{token}/qrcode.png"))).header("if-none-match", etag).send().await.unwrap();
        assert_eq!(again.status(), 304);
        assert_eq!(app.sandbox_stats().await["qrcode_create_calls"], 1);
        app.stop().await;
    }
}

db_test! {
    async fn order_codes_carry_random_scenes_above_the_permanent_range(db: TestDb) {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
        let app = TestApp::spawn(db).await;
        let mut orders = Vec::new();
        for _ in 0..1000 {
            orders.push(app.new_order().await);
        }
        for chunk in orders.chunks(50) {
            join_all(chunk.iter().map(|o| app.qrcode(o))).await;
        }

        let scenes: Vec<String> = entity::qr_code::Entity::find()
            .select_only()
            .column(entity::qr_code::Column::Scene)
            .filter(entity::qr_code::Column::Kind.eq("order"))
            .order_by_asc(entity::qr_code::Column::Id)
            .into_tuple()
            .all(&app.state.domain.db)
            .await
            .unwrap();
        let mut ids: Vec<u64> = scenes.iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| *id > 100_000 && *id <= u64::from(u32::MAX)), "above the permanent range");
        assert!(orders.iter().all(|o| !ids.contains(&(o.id as u64))), "no code carries its order's id");
        let in_order = ids.clone();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 1000, "all distinct");
        let neighbours = in_order.windows(2).filter(|w| w[1] == w[0] + 1).count();
        assert_eq!(neighbours, 0, "none follows the one before");
        app.stop().await;
    }
}
