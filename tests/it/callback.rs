//! `/wechat`: verification, signatures, malformed pushes, retries.

use futures::future::join_all;
use scanquote::wechat::signature;

use crate::db_test;
use crate::support::{TestApp, fresh_database, scan_xml};

db_test! {
    async fn server_verification_echoes_only_with_a_valid_signature(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let now = chrono::Utc::now().timestamp().to_string();
        let sig = signature::sign(&[&app.token, &now, "42"]);

        let ok = app.get(&format!("/wechat?signature={sig}&timestamp={now}&nonce=42&echostr=hello123")).await;
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["x-content-type-options"], "nosniff");
        assert!(ok.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        assert_eq!(ok.text().await.unwrap(), "hello123");

        // A check signed correctly but long ago (1970, or a captured one from 2023) is
        // a replay: the same window as pushes applies.
        let old = signature::sign(&[&app.token, "1700000000", "42"]);
        let epoch = signature::sign(&[&app.token, "0", "42"]);
        let later = (chrono::Utc::now().timestamp() + 1).to_string();
        for query in [
            format!("signature={sig}&timestamp={later}&nonce=42&echostr=x"),
            format!("signature={old}&timestamp=1700000000&nonce=42&echostr=x"),
            format!("signature={epoch}&timestamp=0&nonce=42&echostr=x"),
            format!("signature=deadbeef&timestamp={now}&nonce=42&echostr=x"),
            format!("timestamp={now}&nonce=42&echostr=x"),
            String::new(),
        ] {
            let r = app.get(&format!("/wechat?{query}")).await;
            assert_eq!(r.status(), 403, "{query}");
            assert!(!r.text().await.unwrap().contains('x'));
        }
        app.stop().await;
    }
}

db_test! {
    async fn a_push_with_a_bad_signature_is_forbidden_and_records_nothing(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let order = app.new_order().await;
        let ticket = app.ticket(&order).await;
        let xml = app.scan_of("oBad", "SCAN", &ticket, 1_700_000_000).await;
        let good = signature::sign(&[&app.token, "1700000000", "7"]);
        let wrong_token = signature::sign(&["not-the-token", "1700000000", "7"]);

        for (sig, ts, nonce) in [(wrong_token.as_str(), "1700000000", "7"), (good.as_str(), "1700000000", "8"), ("", "1700000000", "7")] {
            let r = app.push_signed(&xml, sig, ts, nonce).await;
            assert_eq!(r.status(), 403);
        }
        let unsigned = app.http.post(app.url("/wechat")).body(xml.clone()).send().await.unwrap();
        assert_eq!(unsigned.status(), 403);

        assert_eq!(app.count("scans").await, 0);
        assert_eq!(app.count("deliveries").await, 0);
        app.stop().await;
    }
}

db_test! {
    async fn every_answered_push_is_timed_and_the_server_check_is_not(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let order = app.new_order().await;
        let ticket = app.ticket(&order).await;
        let now = chrono::Utc::now().timestamp();
        let xml = app.scan_of("oTimed", "SCAN", &ticket, now).await;
        assert_eq!(app.push(&xml).await.status(), 200);
        // A refused push is answered too, and WeChat waited for that answer as well.
        assert_eq!(app.push_signed(&xml, "deadbeef", &now.to_string(), "7").await.status(), 403);
        let sig = signature::sign(&[&app.token, &now.to_string(), "42"]);
        let check = app.get(&format!("/wechat?signature={sig}&timestamp={now}&nonce=42&echostr=hi")).await;
        assert_eq!(check.status(), 200);

        assert_eq!(app.metric("scanquote_push_duration_seconds_count").await, Some(2));
        assert_eq!(app.metric("scanquote_push_duration_seconds_bucket{le=\"+Inf\"}").await, Some(2));
        // Each took under WeChat's 5 s.
        assert_eq!(app.metric("scanquote_push_duration_seconds_bucket{le=\"5\"}").await, Some(2));
        app.stop().await;
    }
}

db_test! {
    async fn malformed_xml_is_a_bad_request_with_a_reason(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let cases = [
            ("<xml><ToUserName>gh</ToUserName>", "invalid XML"),
            ("{\"json\": true}", "invalid XML"),
            ("", "body is empty"),
            ("<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>soon</CreateTime><MsgType>event</MsgType></xml>", "CreateTime"),
            ("<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>SCAN</Event></xml>", "EventKey"),
        ];
        for (body, reason) in cases {
            let r = app.push(body).await;
            assert_eq!(r.status(), 400, "{body}");
            let text = r.text().await.unwrap();
            assert!(text.contains(reason), "{body}: {text}");
        }
        let not_utf8 = app.push([0x3c, 0xff, 0xfe]).await;
        assert_eq!(not_utf8.status(), 400);
        let huge = app.push(format!("<xml>{}</xml>", "a".repeat(100_000))).await;
        assert_eq!(huge.status(), 413);
        assert_eq!(app.count("scans").await, 0);
        app.stop().await;
    }
}

db_test! {
    async fn other_events_and_messages_are_answered_success(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let plain_follow = "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>\
                            <MsgType>event</MsgType><Event>subscribe</Event></xml>";
        let text = "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>\
                    <MsgType>text</MsgType><Content>你好</Content><MsgId>1234567890123456</MsgId></xml>";
        let location = "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>\
                        <MsgType>event</MsgType><Event>LOCATION</Event><Latitude>23.1</Latitude></xml>";
        for body in [plain_follow, text, location] {
            let r = app.push(body).await;
            assert_eq!(r.status(), 200);
            assert_eq!(r.text().await.unwrap(), "success");
        }
        assert_eq!(app.count("scans").await, 0);
        app.stop().await;
    }
}

db_test! {
    async fn a_retried_push_sends_one_message(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let order = app.new_order().await;
        let ticket = app.ticket(&order).await;
        let openid = app.sandbox_user("重试").await;
        // The sandbox user scans once (so WeChat would accept a message)…
        app.sandbox_scan(&openid, &ticket).await;
        let first = app.wait_for_inbox(&openid, 1).await;
        assert_eq!(first.len(), 1);

        // …and WeChat delivers a later push of theirs three times, all at once.
        let xml = app.scan_of(&openid, "SCAN", &ticket, 1_800_000_000).await;
        let answers = join_all((0..3).map(|_| app.push(&xml))).await;

        for r in answers {
            assert_eq!(r.status(), 200);
            assert_eq!(r.text().await.unwrap(), "success");
        }
        // Once more, later, as WeChat's third try would.
        assert_eq!(app.push(&xml).await.status(), 200);
        let inbox = app.wait_for_inbox(&openid, 2).await;
        assert_eq!(inbox.len(), 2, "one message for the scan, one for the retried push");
        assert_eq!(app.count("scans").await, 2);
        assert_eq!(app.count("deliveries").await, 2);
        assert_eq!(app.get("/metrics").await.text().await.unwrap().lines().find(|l| l.starts_with("scanquote_duplicate_pushes_total ")), Some("scanquote_duplicate_pushes_total 3"));
        app.stop().await;
    }
}

db_test! {
    async fn a_scan_of_an_unknown_code_is_recorded_without_a_message(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let r = app.push(&scan_xml("oNobody", "SCAN", "424242", None, 1_700_000_000)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(app.count("scans").await, 1);
        assert_eq!(app.count("deliveries").await, 0);
        app.stop().await;
    }
}

db_test! {
    async fn a_code_made_elsewhere_never_turns_into_a_quote(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let order = app.new_order().await;
        let ticket = app.ticket(&order).await;
        let scene = app.scene_of(&ticket).await;
        // The account's own "follow us" code, or another tool's, with the live order's
        // scene: a ticket this service never issued.
        let now = chrono::Utc::now().timestamp();
        let follow = scan_xml("oStranger001", "subscribe", &format!("qrscene_{scene}"), Some("gQForeignTicket+/="), now);
        let rescan = scan_xml("oStranger001", "SCAN", &scene, Some("gQForeignTicket+/="), now + 1);
        for xml in [follow, rescan] {
            let r = app.push(&xml).await;
            assert_eq!(r.status(), 200);
            assert_eq!(r.text().await.unwrap(), "success");
        }

        assert_eq!(app.count("scans").await, 2, "foreign scans are kept");
        assert_eq!(app.count("deliveries").await, 0, "and send nothing");
        let foreign: serde_json::Value = app.http.get(app.url("/api/admin/foreign-scans"))
            .bearer_auth(crate::support::ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
        let foreign = foreign.as_array().unwrap();
        assert_eq!(foreign.len(), 2);
        assert_eq!(foreign[0]["ticket"], "gQForeignTicket+/=");
        assert_eq!(foreign[1]["event"], "subscribe");
        app.stop().await;
    }
}

db_test! {
    async fn a_push_without_a_ticket_resolves_only_to_a_scene_this_service_issued(db: TestDb) {
        let app = TestApp::spawn(db).await;
        app.sandbox_open_recipients().await;
        let order = app.new_order().await;
        let ticket = app.ticket(&order).await;
        let scene = app.scene_of(&ticket).await;
        let now = chrono::Utc::now().timestamp();

        app.push(&scan_xml("oNoTicket0001", "SCAN", &scene, None, now)).await;
        app.push(&scan_xml("oNoTicket0002", "SCAN", &order.id.to_string(), None, now)).await;

        let sent = app.wait_for_deliveries_to_settle().await;
        let to: Vec<&str> = sent.iter().map(|d| d.openid.as_str()).collect();
        assert_eq!(to, ["oNoTicket0001"], "the issued scene resolves; the order's id does not");
        app.stop().await;
    }
}

db_test! {
    async fn a_push_and_its_retry_at_another_instance_are_one_scan(db: TestDb) {
        let a = TestApp::spawn(db).await;
        let b = a.spawn_sharing(&[]).await;
        let order = a.new_order().await;
        let ticket = a.ticket(&order).await;
        let now = chrono::Utc::now().timestamp();
        let xml = a.scan_of("oTwoDoors0001", "SCAN", &ticket, now).await;

        // WeChat's retries may reach either instance behind the load balancer; each
        // journal reads the other's scans inside its own transaction.
        let first = a.push(&xml).await.status();
        let at_b = b.push(&xml).await.status();
        let back_at_a = a.push(&xml).await.status();
        let another = a.scan_of("oTwoDoors0002", "SCAN", &ticket, now).await;
        let other_user = b.push(&another).await.status();

        assert_eq!([first, at_b, back_at_a, other_user].map(|s| s.as_u16()), [200; 4]);
        assert_eq!(a.count("scans").await, 2, "one scan a push, however often it came");
        assert_eq!(a.count("deliveries").await, 2, "one message a scan");
        let duplicates = "scanquote_duplicate_pushes_total";
        assert_eq!(a.metric(duplicates).await, Some(1));
        assert_eq!(b.metric(duplicates).await, Some(1));
        b.stop().await;
        a.stop().await;
    }
}

/// Inserts a scan as the version before identities led with the time recorded it.
async fn scan_recorded_before_upgrade(
    db: &sea_orm::DatabaseConnection,
    openid: &str,
    create_time: i64,
) {
    use sea_orm::{ActiveModelTrait, Set};
    entity::scan::ActiveModel {
        event_identity: Set(format!("{openid}|{create_time}|SCAN|1")),
        openid: Set(openid.into()),
        event: Set("SCAN".into()),
        scene: Set("1".into()),
        ticket: Set(None),
        qr_code_id: Set(None),
        order_id: Set(None),
        event_time: Set(create_time),
        received_at_ms: Set(create_time * 1000),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("an old scan row");
}

db_test! {
    async fn a_push_recorded_before_the_upgrade_is_still_known_to_its_retry(db: TestDb) {
        use migration::MigratorTrait;
        use sea_orm::{EntityTrait, QueryOrder};
        let fresh = fresh_database(&db).await;
        let conn = sea_orm::Database::connect(fresh.url.as_str()).await.unwrap();
        migration::Migrator::up(&conn, Some(5)).await.unwrap();
        let now = chrono::Utc::now().timestamp();
        // Pushed seconds before the upgrade: WeChat may still retry it.
        scan_recorded_before_upgrade(&conn, "oRecent", now - 3).await;
        // Pushed an hour before: no retry can come; its row is left as it was.
        scan_recorded_before_upgrade(&conn, "oStale", now - 3600).await;
        conn.close().await.unwrap();

        let app = TestApp::start(fresh, &[]).await;
        let retry = app.push(scan_xml("oRecent", "SCAN", "1", None, now - 3)).await;
        assert_eq!(retry.status(), 200);
        assert_eq!(retry.text().await.unwrap(), "success");
        assert_eq!(app.count("scans").await, 2, "the retry recorded nothing");
        let metrics = app.get("/metrics").await.text().await.unwrap();
        assert!(metrics.lines().any(|l| l == "scanquote_duplicate_pushes_total 1"), "{metrics}");

        let identities: Vec<String> = entity::scan::Entity::find()
            .order_by_asc(entity::scan::Column::Id)
            .all(&app.state.domain.db)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.event_identity)
            .collect();
        assert_eq!(
            identities,
            [
                format!("{:012}|oRecent|SCAN|1", now - 3),
                format!("oStale|{}|SCAN|1", now - 3600),
            ]
        );
        // A new push of the stale user's is a scan of its own, in the new form.
        assert_eq!(app.push(scan_xml("oStale", "SCAN", "1", None, now)).await.status(), 200);
        assert_eq!(app.count("scans").await, 3);
        app.stop().await;
    }
}
