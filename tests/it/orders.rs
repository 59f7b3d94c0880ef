//! `POST /api/orders` and `GET /api/orders/{id}`.

use serde_json::Value;

use crate::db_test;
use crate::support::TestApp;

db_test! {
    async fn an_order_is_stored_exactly_and_read_back(db: TestDb) {
        let app = TestApp::spawn(db).await;

        let created = app.create_order(r#"{"total_money": 12800.10, "saved_money": "3200.5", "room_area": 88.5}"#).await;

        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        assert_eq!(created["total_money"], "12800.10");
        assert_eq!(created["saved_money"], "3200.50");
        assert_eq!(created["market_money"], "16000.60");
        assert_eq!(created["room_area"], "88.50");
        assert_eq!(created["building_area"], 111);
        let id = created["id"].as_i64().unwrap();
        assert!(id >= 1);
        let read: Value = app.get(&format!("/api/orders/{id}")).await.json().await.unwrap();
        assert_eq!(read, created);
        app.stop().await;
    }
}

db_test! {
    async fn bad_orders_are_refused_naming_the_field_and_nothing_is_stored(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let cases = [
            (r#"{"saved_money": 1, "room_area": 1}"#, Some("total_money"), "is required"),
            (r#"{"total_money": -5, "saved_money": 1, "room_area": 1}"#, Some("total_money"), "must not be negative"),
            (r#"{"total_money": 5, "saved_money": "lots", "room_area": 1}"#, Some("saved_money"), "must be a number"),
            (r#"{"total_money": 5, "saved_money": 1, "room_area": "1.234"}"#, Some("room_area"), "must have at most 2 decimal places"),
            (r#"{"total_money": 5, "saved_money": 1, "room_area": 0}"#, Some("room_area"), "must be greater than zero"),
            (r#"{"total_money": 5, "saved_money": 1, "room_area": [1]}"#, Some("room_area"), "must be a number"),
            (r#"{"total_money": 1e30, "saved_money": 1, "room_area": 1}"#, Some("total_money"), "is too large"),
            (r#"not json"#, None, "body must be a JSON object"),
            (r#""#, None, "body must be a JSON object"),
        ];
        for (body, field, reason) in cases {
            let r = app.create_order(body).await;
            assert_eq!(r.status(), 400, "{body}");
            let err: Value = r.json().await.unwrap();
            assert_eq!(err["field"].as_str(), field, "{body}: {err}");
            assert!(err["error"].as_str().unwrap().starts_with(reason), "{body}: {err}");
        }
        assert_eq!(app.count("orders").await, 0);
        app.stop().await;
    }
}

db_test! {
    async fn unknown_or_impossible_order_ids_are_not_found(db: TestDb) {
        let app = TestApp::spawn(db).await;
        for path in ["/api/orders/999", "/api/orders/0", "/api/orders/abc", "/api/orders/99999999999", "/api/orders/-1"] {
            let r = app.get(path).await;
            assert_eq!(r.status(), 404, "{path}");
            let r = app.get(&format!("{path}/qrcode")).await;
            assert_eq!(r.status(), 404, "{path}/qrcode");
        }
        assert_eq!(app.sandbox_stats().await["qrcode_create_calls"], 0);
        app.stop().await;
    }
}
