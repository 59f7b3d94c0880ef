//! The OpenAPI document at `/api/openapi.json` matches the routes: it lists exactly the
//! JSON API, and every operation it lists is served (no 404 from a missing route, no 405).

use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, TestApp, TestDb};

const EXPECTED: [(&str, &str); 35] = [
    ("/api/orders", "post"),
    ("/api/orders/{ref}", "get"),
    ("/api/orders/{token}/qrcode", "get"),
    ("/api/orders/{token}/status", "get"),
    ("/api/admin/site-keys", "get"),
    ("/api/admin/site-keys", "post"),
    ("/api/admin/site-keys/{id}", "delete"),
    ("/api/admin/order-fields", "get"),
    ("/api/admin/order-fields", "put"),
    ("/api/admin/webhook", "get"),
    ("/api/admin/webhook", "put"),
    ("/api/admin/webhook", "delete"),
    ("/api/admin/webhook/events", "get"),
    ("/api/admin/webhook/events/{id}/resend", "post"),
    ("/api/admin/foreign-scans", "get"),
    ("/api/admin/deliveries", "get"),
    ("/api/admin/deliveries.csv", "get"),
    ("/api/admin/deliveries/{id}/retry", "post"),
    ("/api/admin/template", "get"),
    ("/api/admin/template", "put"),
    ("/api/admin/template/preview", "post"),
    ("/api/admin/template/versions/{id}/restore", "post"),
    ("/api/admin/channel-codes", "get"),
    ("/api/admin/channel-codes", "post"),
    ("/api/admin/channel-codes/batch", "post"),
    ("/api/admin/channel-codes/{id}", "get"),
    ("/api/admin/channel-codes/{id}", "patch"),
    ("/api/admin/channel-codes/{id}", "delete"),
    ("/api/admin/channel-codes/{id}/stats", "get"),
    ("/api/admin/channel-codes/{id}/stats.csv", "get"),
    ("/api/admin/settings", "get"),
    ("/api/admin/settings", "put"),
    ("/api/admin/shop", "get"),
    ("/api/admin/shop", "put"),
    ("/api/openapi.json", "get"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_exactly_the_served_api() {
    let app = TestApp::spawn(TestDb::Sqlite).await;
    let order = app.new_order().await;
    let id = order.id;
    app.http
        .post(app.url("/api/admin/channel-codes"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "p1", "validity": "permanent"}))
        .send()
        .await
        .unwrap();

    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "OpenAPI 3"
    );
    assert!(doc["components"]["securitySchemes"]["admin_token"].is_object());
    assert!(doc["components"]["securitySchemes"]["site_key"].is_object());
    let mut listed: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            listed.push((path.clone(), method.clone()));
        }
    }
    let mut expected: Vec<(String, String)> = EXPECTED
        .iter()
        .filter(|(p, _)| *p != "/api/openapi.json")
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .collect();
    listed.sort();
    expected.sort();
    assert_eq!(
        listed, expected,
        "the document lists the API, no more, no less"
    );

    for (path, method) in EXPECTED {
        let concrete = path
            .replace("{ref}", &order.token)
            .replace("{token}", &order.token)
            .replace("{id}", &id.to_string());
        let req = match method {
            "get" => app.http.get(app.url(&concrete)),
            "post" => app.http.post(app.url(&concrete)).json(&json!({})),
            "put" => app.http.put(app.url(&concrete)).json(&json!({})),
            "patch" => app.http.patch(app.url(&concrete)).json(&json!({})),
            "delete" => app.http.delete(app.url(&concrete)),
            other => panic!("{other}"),
        };
        let r = req.bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path} is not routed");
        assert!(
            !(status == 404 && body.contains("没有这个接口")),
            "{method} {path} has no route"
        );
        if let Some(doc_op) = doc["paths"][path][method].as_object() {
            let documented: Vec<&String> =
                doc_op["responses"].as_object().unwrap().keys().collect();
            assert!(
                documented.iter().any(|s| s.as_str() == status.to_string()),
                "{method} {path} answered {status}, documented {documented:?}"
            );
        }
    }
    app.stop().await;
}
