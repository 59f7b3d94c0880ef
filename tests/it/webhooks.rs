//! The shop hears back: signed webhook events through the outbox, retried until its
//! server takes them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::db_test;
use crate::support::{ADMIN_TOKEN, TestApp};

/// What the shop's webhook receiver saw.
#[derive(Default)]
struct Received {
    /// Tries it refused before it came up.
    refused: u32,
    /// Every POST it took: its body and signature header.
    accepted: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Received>>;

/// A receiver that is down (503) for its first `down_for` tries, then up.
async fn receiver(down_for: u32) -> (String, Shared) {
    let shared = Shared::default();
    let hook = move |State(s): State<Shared>, headers: HeaderMap, body: Bytes| async move {
        let mut s = s.lock().unwrap();
        if s.refused < down_for {
            s.refused += 1;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        let signature = headers["scanquote-signature"].to_str().unwrap().to_owned();
        s.accepted
            .push((String::from_utf8(body.to_vec()).unwrap(), signature));
        StatusCode::OK
    };
    let router = Router::new()
        .route("/hook", post(hook))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, shared)
}

/// The check a shop writes from the documented scheme: `t=<unix>,v1=<hex HMAC-SHA256(
/// secret, "<t>.<body>")>`, and a timestamp within five minutes.
fn verify(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(at) = t.parse::<i64>() else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - at).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let Ok(given) = hex::decode(v1) else {
        return false;
    };
    mac.verify_slice(&given).is_ok()
}

db_test! {
    async fn events_reach_a_receiver_that_was_down_once_each_and_signed(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let (url, received) = receiver(2).await;
        let set = app.http.put(app.url("/api/admin/webhook")).bearer_auth(ADMIN_TOKEN).json(&json!({"url": url})).send().await.unwrap();
        assert_eq!(set.status(), 200);
        let secret = set.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
        let shown: Value = app.http.get(app.url("/api/admin/webhook")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
        assert_eq!(shown["url"], url.as_str());
        assert!(!shown.to_string().contains(&secret), "the secret is shown once");

        let created: Value = app.create_order(r#"{"external_id": "A-2001", "total_money": 100, "saved_money": 1, "room_area": 10}"#).await.json().await.unwrap();
        let token = created["token"].as_str().unwrap();
        let ticket: Value = app.get(&format!("/api/orders/{token}/qrcode")).await.json().await.unwrap();
        let openid = app.sandbox_user("通知").await;
        app.sandbox_scan(&openid, ticket["ticket"].as_str().unwrap()).await;

        // Two tries refused (1 s and 4 s of backoff), then both events are taken.
        let mut waited = Duration::ZERO;
        while received.lock().unwrap().accepted.len() < 2 && waited < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += Duration::from_millis(100);
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (refused, accepted) = {
            let r = received.lock().unwrap();
            (r.refused, r.accepted.clone())
        };
        assert_eq!(refused, 2);
        assert_eq!(accepted.len(), 2, "one accepted delivery per event");
        let mut ids = Vec::new();
        let mut types = Vec::new();
        for (body, signature) in &accepted {
            assert!(verify(&secret, signature, body), "the signature holds: {signature}");
            assert!(!verify("whsec_another", signature, body));
            let event: Value = serde_json::from_str(body).unwrap();
            ids.push(event["id"].as_str().unwrap().to_owned());
            types.push(event["type"].as_str().unwrap().to_owned());
            assert_eq!(event["data"]["external_id"], "A-2001");
            assert_eq!(event["data"]["openid"], openid.as_str());
        }
        types.sort();
        assert_eq!(types, ["message.sent", "scan"]);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 2, "distinct event ids");
        let scan = accepted.iter().map(|(b, _)| serde_json::from_str::<Value>(b).unwrap()).find(|e| e["type"] == "scan").unwrap();
        assert_eq!(scan["data"]["new_follower"], true);

        let listed: Value = app.http.get(app.url("/api/admin/webhook/events")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|e| e["status"] == "sent"), "{listed:?}");
        let tries: i64 = listed.iter().map(|e| e["attempts"].as_i64().unwrap()).sum();
        assert_eq!(tries, 4, "two refused tries and two taken");
        // Resending one posts the same event, with the same id, again.
        let first = listed[0]["id"].as_i64().unwrap();
        let again = app.http.post(app.url(&format!("/api/admin/webhook/events/{first}/resend"))).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(again.status(), 200);
        let mut waited = Duration::ZERO;
        while received.lock().unwrap().accepted.len() < 3 && waited < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        let third = received.lock().unwrap().accepted[2].0.clone();
        let resent: Value = serde_json::from_str(&third).unwrap();
        assert_eq!(resent["id"], listed[0]["event_id"]);
        app.stop().await;
    }
}

db_test! {
    async fn a_failed_message_tells_the_shop_why_in_chinese(db: TestDb) {
        let app = TestApp::spawn(db).await;
        app.sandbox_open_recipients().await;
        let (url, received) = receiver(0).await;
        app.http.put(app.url("/api/admin/webhook")).bearer_auth(ADMIN_TOKEN).json(&json!({"url": url})).send().await.unwrap();
        app.sandbox_fault(json!({"api": "custom_send", "errcode": 45015, "errmsg": "response out of time limit", "count": 1})).await;
        let order = app.new_order().await;
        let ticket = app.ticket(&order).await;
        app.push(app.scan_of("oLateUser0001", "SCAN", &ticket, chrono::Utc::now().timestamp()).await).await;

        let mut waited = Duration::ZERO;
        while received.lock().unwrap().accepted.len() < 2 && waited < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        let accepted = received.lock().unwrap().accepted.clone();
        let failed = accepted.iter().map(|(b, _)| serde_json::from_str::<Value>(b).unwrap()).find(|e| e["type"] == "message.failed").expect("a message.failed event");
        assert_eq!(failed["data"]["errcode"], 45015);
        assert_eq!(failed["data"]["reason"], "用户超过 48 小时未互动，无法发送");
        let bad = app.http.put(app.url("/api/admin/webhook")).bearer_auth(ADMIN_TOKEN).json(&json!({"url": "javascript:alert(1)"})).send().await.unwrap();
        assert_eq!(bad.status(), 400);
        let off = app.http.delete(app.url("/api/admin/webhook")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(off.status(), 204);
        assert_eq!(app.http.get(app.url("/api/admin/webhook")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().status(), 404);
        app.stop().await;
    }
}
