//! Protocol security: AES modes, refused inputs, replays, admin auth, rate limits.

use serde_json::{Value, json};

use crate::db_test;
use crate::independent_client::{
    SAMPLE_APPID, SAMPLE_KEY, SAMPLE_TOKEN, decrypt, encrypt, field, sha1_signature,
};
use crate::stand_in::stand_in;
use crate::support::{ADMIN_TOKEN, TestApp, TestDb, scan_xml};

const OTHER_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";

fn now() -> String {
    chrono::Utc::now().timestamp().to_string()
}

/// POSTs an AES-mode push: `body` carries the ciphertext, signed as given.
async fn push_aes(
    app: &TestApp,
    body: &str,
    ts: &str,
    nonce: &str,
    msg_signature: &str,
) -> reqwest::Response {
    let signature = sha1_signature(&[&app.token, ts, nonce]);
    app.http
        .post(app.url("/wechat"))
        .query(&[
            ("signature", signature.as_str()),
            ("timestamp", ts),
            ("nonce", nonce),
            ("encrypt_type", "aes"),
            ("msg_signature", msg_signature),
        ])
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

fn safe_body(encrypted: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
}

/// Nothing recorded, nothing sent.
async fn assert_untouched(app: &TestApp) {
    assert_eq!(app.count("scans").await, 0, "no scan recorded");
    assert_eq!(app.count("deliveries").await, 0, "no message queued");
}

async fn spawn_aes(db: TestDb, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("WECHAT_ENCODING_AES_KEY", SAMPLE_KEY)];
    vars.extend_from_slice(extra);
    TestApp::spawn_with(db, &vars).await
}

db_test! {
    async fn a_scan_in_safe_mode_sends_its_card(db: TestDb) {
        let app = spawn_aes(db, &[]).await;
        let order = app.new_order().await;
        let ticket = app.qrcode(&order).await["ticket"].as_str().unwrap().to_owned();
        let openid = app.sandbox_user("安全模式").await;

        let pushed = app.sandbox_scan(&openid, &ticket).await;

        assert_eq!(pushed["mode"], "safe");
        assert_eq!(pushed["outcome"], "200");
        let inbox = app.wait_for_inbox(&openid, 1).await;
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox[0]["title"], "您的报价已保存：110㎡ 仅需 12800 元");
        app.stop().await;
    }
}

db_test! {
    async fn a_scan_in_compatible_mode_sends_its_card(db: TestDb) {
        let app = spawn_aes(db, &[]).await;
        let order = app.new_order().await;
        let ticket = app.qrcode(&order).await["ticket"].as_str().unwrap().to_owned();
        let openid = app.sandbox_user("兼容模式").await;

        let r = app.http.post(app.url("/sandbox/api/scan")).json(&json!({"openid": openid, "ticket": ticket, "mode": "compatible"})).send().await.unwrap();
        let pushed: Value = r.json().await.unwrap();

        assert_eq!(pushed["mode"], "compatible");
        assert_eq!(pushed["outcome"], "200");
        assert_eq!(app.wait_for_inbox(&openid, 1).await.len(), 1);
        app.stop().await;
    }
}

db_test! {
    async fn a_channel_code_is_not_saved_when_wechat_refuses_it(db: TestDb) {
        // The stand-in does not know this appid, so the token (and the code) is refused.
        let (base, _recorded) = stand_in().await;
        let app = TestApp::spawn_with(db, &[
            ("WECHAT_APP_ID", SAMPLE_APPID), ("WECHAT_APP_SECRET", "x"), ("WECHAT_TOKEN", SAMPLE_TOKEN),
            ("WECHAT_ENCODING_AES_KEY", SAMPLE_KEY), ("WECHAT_API_BASE", &base),
        ]).await;

        let created = app.http.post(app.url("/api/admin/channel-codes")).bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "谜语一", "validity": "permanent", "reply": {"text": "谜底：月亮 🌙"}})).send().await.unwrap();

        assert_eq!(created.status(), 502);
        assert_eq!(app.count("channel_codes").await, 0, "nothing half-made is left");
        assert_eq!(app.count("qr_codes").await, 0);
        app.stop().await;
    }
}

db_test! {
    async fn sealed_replies_verify_and_open_for_a_client_holding_the_sample_key(db: TestDb) {
        // Sandbox mode, but with WeChat's published sample key, token and appid.
        let app = TestApp::spawn_with(db, &[("WECHAT_TOKEN", SAMPLE_TOKEN), ("WECHAT_ENCODING_AES_KEY", SAMPLE_KEY)]).await;
        let appid = app.state.web.config.wechat.app_id.clone();
        let passive = app.http.put(app.url("/api/admin/settings")).bearer_auth(ADMIN_TOKEN)
            .json(&json!({"delivery_mode": "passive_reply"})).send().await.unwrap();
        assert_eq!(passive.status(), 200);
        let created = app.http.post(app.url("/api/admin/channel-codes")).bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "谜语一", "validity": "permanent", "reply": {"text": "谜底：月亮 🌙"}})).send().await.unwrap();
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        let ticket = created["ticket"].as_str().unwrap();
        let key = format!("qrscene_{}", created["scene"].as_str().unwrap());

        let event = scan_xml("oIndependent01", "subscribe", &key, Some(ticket), chrono::Utc::now().timestamp());
        let encrypted = encrypt(SAMPLE_KEY, &appid, &event);
        let (ts, nonce) = (now(), "1234567");
        let msg_signature = sha1_signature(&[SAMPLE_TOKEN, &ts, nonce, &encrypted]);
        let r = push_aes(&app, &safe_body(&encrypted), &ts, nonce, &msg_signature).await;

        assert_eq!(r.status(), 200);
        let sealed = r.text().await.unwrap();
        let enc = field(&sealed, "Encrypt").expect("an Encrypt field");
        let sig = field(&sealed, "MsgSignature").unwrap();
        let reply_ts = field(&sealed, "TimeStamp").unwrap();
        let reply_nonce = field(&sealed, "Nonce").unwrap();
        assert_eq!(sig, sha1_signature(&[SAMPLE_TOKEN, &reply_ts, &reply_nonce, &enc]), "the seal verifies");
        let (xml, found_appid) = decrypt(SAMPLE_KEY, &enc);
        assert_eq!(found_appid, appid);
        assert_eq!(field(&xml, "ToUserName").unwrap(), "oIndependent01");
        assert_eq!(field(&xml, "MsgType").unwrap(), "text");
        assert_eq!(field(&xml, "Content").unwrap(), "谜底：月亮 🌙");
        app.stop().await;
    }
}

db_test! {
    async fn bad_aes_pushes_are_refused_and_leave_nothing(db: TestDb) {
        let app = spawn_aes(db, &[]).await;
        let appid = app.state.web.config.wechat.app_id.clone();
        let order = app.new_order().await;
        let ticket = app.ticket(&order).await;
        let event = app.scan_of("oAttacker01", "SCAN", &ticket, chrono::Utc::now().timestamp()).await;
        let good = encrypt(SAMPLE_KEY, &appid, &event);
        let ts = now();
        let sign = |e: &str| sha1_signature(&[&app.token, &ts, "42", e]);

        let cases: Vec<(&str, String, String, u16)> = vec![
            ("wrong msg_signature", safe_body(&good), sign("something else"), 403),
            ("no msg_signature", safe_body(&good), String::new(), 403),
            ("another account's appid", safe_body(&encrypt(SAMPLE_KEY, "wx_other_account", &event)), sign(&encrypt(SAMPLE_KEY, "wx_other_account", &event)), 403),
            ("bad base64", safe_body("%%%not-base64%%%"), sign("%%%not-base64%%%"), 400),
            ("bad padding", safe_body(&encrypt(OTHER_KEY, &appid, &event)), sign(&encrypt(OTHER_KEY, &appid, &event)), 400),
            ("no Encrypt", "<xml><ToUserName>gh</ToUserName></xml>".into(), sign(""), 400),
        ];
        for (what, body, sig, status) in cases {
            let r = push_aes(&app, &body, &ts, "42", &sig).await;
            assert_eq!(r.status().as_u16(), status, "{what}");
            let text = r.text().await.unwrap();
            assert!(!text.contains(SAMPLE_KEY) && !text.contains(&app.token), "{what}: nothing secret in {text}");
        }
        assert_untouched(&app).await;
        assert_eq!(app.sandbox_stats().await["custom_send_calls"], 0);
        // The same push, correctly signed, is accepted: the refusals were for cause.
        let ok = push_aes(&app, &safe_body(&good), &ts, "42", &sign(&good)).await;
        assert_eq!(ok.status(), 200);
        assert_eq!(app.count("scans").await, 1);
        app.stop().await;
    }
}

db_test! {
    async fn an_encrypted_push_keeps_no_query_and_its_retry_is_one_message(db: TestDb) {
        let app = spawn_aes(db, &[]).await;
        app.sandbox_open_recipients().await;
        let appid = app.state.web.config.wechat.app_id.clone();
        let order = app.new_order().await;
        let ticket = app.ticket(&order).await;
        let event = app.scan_of("oSealed00001", "SCAN", &ticket, chrono::Utc::now().timestamp()).await;
        let sealed = encrypt(SAMPLE_KEY, &appid, &event);
        let ts = now();
        let sig = sha1_signature(&[&app.token, &ts, "7", &sealed]);

        let first = push_aes(&app, &safe_body(&sealed), &ts, "7", &sig).await;
        let retry = push_aes(&app, &safe_body(&sealed), &ts, "7", &sig).await;

        assert_eq!(first.status(), 200);
        assert_eq!(retry.status(), 200, "WeChat's retry: same query, same body");
        // Its body is signed by msg_signature: there is no query to keep against replays.
        assert_eq!(app.count("push_signatures").await, 0);
        assert_eq!(app.count("scans").await, 1);
        let sent = app.wait_for_deliveries_to_settle().await;
        let to: Vec<&str> = sent.iter().map(|d| d.openid.as_str()).collect();
        assert_eq!(to, ["oSealed00001"], "one message for the push and its retry");
        app.stop().await;
    }
}

db_test! {
    async fn an_encrypted_push_without_a_configured_key_is_a_bad_request(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let e = encrypt(SAMPLE_KEY, "wx", "<xml/>");
        let ts = now();
        let r = push_aes(&app, &safe_body(&e), &ts, "1", &sha1_signature(&[&app.token, &ts, "1", &e])).await;
        assert_eq!(r.status(), 400);
        assert_untouched(&app).await;
        app.stop().await;
    }
}

db_test! {
    async fn pushes_sealed_with_the_previous_key_still_work_after_rotation(db: TestDb) {
        let app = TestApp::spawn_with(db, &[("WECHAT_ENCODING_AES_KEY", OTHER_KEY), ("WECHAT_ENCODING_AES_KEY_PREVIOUS", SAMPLE_KEY)]).await;
        let appid = app.state.web.config.wechat.app_id.clone();
        let event = scan_xml("oRotation01", "SCAN", "999", None, chrono::Utc::now().timestamp());
        let old = encrypt(SAMPLE_KEY, &appid, &event);
        let ts = now();
        let r = push_aes(&app, &safe_body(&old), &ts, "9", &sha1_signature(&[&app.token, &ts, "9", &old])).await;
        assert_eq!(r.status(), 200);
        assert_eq!(app.count("scans").await, 1);
        app.stop().await;
    }
}

db_test! {
    async fn stale_timestamps_are_refused_unless_the_window_is_off(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let xml = scan_xml("oReplay01", "SCAN", "1", None, 1_700_000_000);
        for ts in ["1700000000".to_owned(), (chrono::Utc::now().timestamp() + 3600).to_string(), "soon".to_owned()] {
            let sig = sha1_signature(&[&app.token, &ts, "5"]);
            let r = app.push_signed(&xml, &sig, &ts, "5").await;
            assert_eq!(r.status(), 403, "timestamp {ts}");
        }
        // WeChat's retries, seconds later, pass.
        let recent = (chrono::Utc::now().timestamp() - 12).to_string();
        let r = app.push_signed(&xml, &sha1_signature(&[&app.token, &recent, "5"]), &recent, "5").await;
        assert_eq!(r.status(), 200);
        app.stop().await;

        let lenient = TestApp::spawn_with(TestDb::Sqlite, &[("WECHAT_TIMESTAMP_WINDOW_SECONDS", "0")]).await;
        let sig = sha1_signature(&[&lenient.token, "1700000000", "5"]);
        assert_eq!(lenient.push_signed(&xml, &sig, "1700000000", "5").await.status(), 200);
        lenient.stop().await;
    }
}

db_test! {
    async fn hostile_xml_is_refused_without_expansion(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><ToUserName>&c;</ToUserName></xml>"#;
        let xxe = r#"<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><ToUserName>&x;</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>"#;
        let deep = format!("<xml>{}{}</xml>", "<a>".repeat(200), "</a>".repeat(200));
        for (what, body, status) in [("entity bomb", bomb.to_owned(), 400u16), ("external entity", xxe.to_owned(), 400), ("deep nesting", deep, 400), ("64 KiB+", "<xml>".to_owned() + &"x".repeat(70_000) + "</xml>", 413)] {
            let r = app.push(body).await;
            assert_eq!(r.status().as_u16(), status, "{what}");
            assert!(!r.text().await.unwrap().contains("root:"), "{what}: nothing read from disk");
        }
        assert_untouched(&app).await;
        app.stop().await;
    }
}

db_test! {
    async fn the_console_and_its_api_need_the_admin_token(db: TestDb) {
        let app = TestApp::spawn(db).await;
        // Not logged in: a console page sends to the login form, and back after; the
        // API answers 401.
        for path in ["/admin", "/admin/deliveries?status=failed"] {
            let to = app.get(path).await;
            assert_eq!(to.status(), 303, "{path}");
            let login = to.headers()["location"].to_str().unwrap().to_owned();
            assert_eq!(login, format!("/admin/login?next={}", urlencoding::encode(path)));
            let page = app.get(&login).await.text().await.unwrap();
            assert!(page.contains("name=\"token\"") && !page.contains("消息记录"));
            let escaped = path.replace('/', "&#x2f;");
            assert!(page.contains(&format!("name=\"next\" value=\"{escaped}\"")), "{page}");
            let back = app.http.post(app.url("/admin/login")).form(&[("token", ADMIN_TOKEN), ("next", path)]).send().await.unwrap();
            assert_eq!(back.headers()["location"], path, "back where the owner was going");
        }
        // A download link opened in a browser goes the same way; a script gets a 401.
        let csv = app.http.get(app.url("/api/admin/deliveries.csv")).header("accept", "text/html,*/*").send().await.unwrap();
        assert_eq!(csv.status(), 303);
        assert_eq!(app.get("/api/admin/deliveries.csv").await.status(), 401);
        // And no crafted next leads elsewhere.
        for evil in ["https://evil.example/", "//evil.example", "/\\evil.example", "/sandbox/"] {
            let r = app.http.post(app.url("/admin/login")).form(&[("token", ADMIN_TOKEN), ("next", evil)]).send().await.unwrap();
            assert_eq!(r.headers()["location"], "/admin", "{evil}");
        }
        assert_eq!(app.get("/api/admin/deliveries").await.status(), 401);
        let wrong = app.http.get(app.url("/api/admin/deliveries")).bearer_auth("wrong-token-0123456789").send().await.unwrap();
        assert_eq!(wrong.status(), 401);
        let right = app.http.get(app.url("/api/admin/deliveries")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(right.status(), 200);

        let refused = app.http.post(app.url("/admin/login")).form(&[("token", "nope")]).send().await.unwrap();
        assert_eq!(refused.status(), 401);
        assert!(refused.headers().get("set-cookie").is_none());
        let login = app.http.post(app.url("/admin/login")).form(&[("token", ADMIN_TOKEN)]).send().await.unwrap();
        assert_eq!(login.status(), 303);
        let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        assert!(!cookie.contains(ADMIN_TOKEN));
        let session = cookie.split(';').next().unwrap().to_owned();

        let dashboard = app.http.get(app.url("/admin")).header("cookie", &session).send().await.unwrap().text().await.unwrap();
        assert!(dashboard.contains("消息记录"));
        let csrf = dashboard.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();

        // A forged form (no or wrong CSRF token) changes nothing.
        for token in ["", "forged"] {
            let r = app.http.post(app.url("/admin/channel-codes")).header("cookie", &session)
                .form(&[("csrf", token), ("name", "优惠"), ("validity", "permanent"), ("reply_kind", "text"), ("reply_text", "ABC")]).send().await.unwrap();
            assert_eq!(r.status(), 403);
        }
        let r = app.http.post(app.url("/api/admin/channel-codes")).header("cookie", &session)
            .json(&json!({"name": "优惠", "validity": "permanent"})).send().await.unwrap();
        assert_eq!(r.status(), 403, "cookie-authenticated API changes need X-CSRF-Token");
        assert_eq!(app.count("channel_codes").await, 0);

        let ok = app.http.post(app.url("/admin/channel-codes")).header("cookie", &session)
            .form(&[("csrf", csrf.as_str()), ("name", "优惠"), ("validity", "permanent"), ("reply_kind", "text"), ("reply_text", "优惠码 ABC")]).send().await.unwrap();
        assert_eq!(ok.status(), 303);
        assert_eq!(app.count("channel_codes").await, 1);
        app.stop().await;
    }
}

db_test! {
    async fn code_creation_is_rate_limited_per_client_but_the_shops_server_is_not(db: TestDb) {
        let app = TestApp::spawn_with(db, &[("RATE_LIMIT_PER_MINUTE", "3")]).await;
        let mut orders = Vec::new();
        for _ in 0..5 {
            orders.push(app.new_order().await);
        }
        assert_eq!(app.count("orders").await, 5, "a keyed server is not limited by its IP");
        for order in &orders[..3] {
            app.qrcode(order).await;
        }
        let r = app.get(&format!("/api/orders/{}/qrcode", orders[3].token)).await;
        assert_eq!(r.status(), 429);
        let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=20).contains(&wait));
        assert_eq!(app.sandbox_stats().await["qrcode_create_calls"], 3);
        // Reading an order's status is not limited.
        assert_eq!(app.get(&format!("/api/orders/{}/status", orders[3].token)).await.status(), 200);
        app.stop().await;
    }
}

db_test! {
    async fn a_channel_codes_reply_reaches_the_sandbox_inbox_as_a_sealed_passive_reply(db: TestDb) {
        let app = spawn_aes(db, &[]).await;
        let passive = app.http.put(app.url("/api/admin/settings")).bearer_auth(ADMIN_TOKEN)
            .json(&json!({"delivery_mode": "passive_reply"})).send().await.unwrap();
        assert_eq!(passive.status(), 200);
        let created: Value = app.http.post(app.url("/api/admin/channel-codes")).bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "谜语七", "validity": "permanent", "reply": {"text": "谜底是：影子"}})).send().await.unwrap().json().await.unwrap();
        let ticket = created["ticket"].as_str().unwrap();
        let openid = app.sandbox_user("猜谜").await;

        let pushed = app.sandbox_scan(&openid, ticket).await;

        assert_eq!(pushed["reply_text"], "谜底是：影子", "{pushed}");
        assert!(pushed["reply"].as_str().unwrap().contains("<Encrypt>"), "sealed in AES mode");
        let inbox = app.inbox(&openid).await;
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox[0]["via"], "passive");
        let stats = app.sandbox_stats().await;
        assert_eq!(stats["custom_send_calls"], 0, "no customer-service message for a reply");
        assert_eq!(app.count("deliveries WHERE kind = 'reply' AND status = 'sent'").await, 1, "recorded as sent with the push");
        app.stop().await;
    }
}

db_test! {
    async fn a_plaintext_push_is_refused_when_an_aes_key_is_set(db: TestDb) {
        let app = spawn_aes(db, &[]).await;
        let order = app.new_order().await;
        let ticket = app.qrcode(&order).await["ticket"].as_str().unwrap().to_owned();
        // Signed with the token alone, as anyone who once saw a push's query could.
        let forged = app.scan_of("oForged01", "SCAN", &ticket, chrono::Utc::now().timestamp()).await;

        let r = app.push(&forged).await;

        assert_eq!(r.status(), 403);
        assert_untouched(&app).await;
        assert_eq!(app.sandbox_stats().await["custom_send_calls"], 0);
        app.stop().await;
    }
}

db_test! {
    async fn plaintext_pushes_pass_in_aes_mode_only_while_a_switch_over_allows_them(db: TestDb) {
        let app = spawn_aes(db, &[("WECHAT_ALLOW_PLAINTEXT", "true")]).await;
        let order = app.new_order().await;
        let ticket = app.qrcode(&order).await["ticket"].as_str().unwrap().to_owned();
        let openid = app.sandbox_user("切换中").await;

        let r = app.http.post(app.url("/sandbox/api/scan")).json(&json!({"openid": openid, "ticket": ticket, "mode": "plaintext"})).send().await.unwrap();
        let pushed: Value = r.json().await.unwrap();

        assert_eq!(pushed["outcome"], "200", "{pushed}");
        assert_eq!(app.wait_for_inbox(&openid, 1).await.len(), 1);
        // Its body is not signed, AES key or not: its query is kept against replays.
        assert_eq!(app.count("push_signatures").await, 1);
        app.stop().await;
    }
}

db_test! {
    async fn a_replayed_query_with_another_body_is_refused_and_with_the_same_body_is_one_message(db: TestDb) {
        let sqlite = matches!(db, TestDb::Sqlite);
        let app = TestApp::spawn(db).await;
        app.sandbox_open_recipients().await;
        let order = app.new_order().await;
        let ticket = app.ticket(&order).await;
        let now = chrono::Utc::now().timestamp();
        let genuine = app.scan_of("oGenuine00001", "SCAN", &ticket, now).await;
        let forged = app.scan_of("oForgedVictim", "SCAN", &ticket, now).await;
        let ts = now.to_string();
        let sig = sha1_signature(&[&app.token, &ts, "31337"]);

        let first = app.push_signed(&genuine, &sig, &ts, "31337").await;
        let replay = app.push_signed(&forged, &sig, &ts, "31337").await;
        let retry = app.push_signed(&genuine, &sig, &ts, "31337").await;

        assert_eq!(first.status(), 200);
        assert_eq!(replay.status(), 403, "the captured query with another body");
        assert_eq!(retry.status(), 200, "WeChat's retry: same query, same body");
        assert_eq!(retry.text().await.unwrap(), "success");
        let sent = app.wait_for_deliveries_to_settle().await;
        let to: Vec<&str> = sent.iter().map(|d| d.openid.as_str()).collect();
        assert_eq!(to, ["oGenuine00001"], "one message, to the genuine scanner");
        assert_eq!(app.count("scans").await, 1);
        assert_eq!(app.count("push_signatures").await, 1, "the plaintext query is kept");
        // Another instance on the same database knows the query too.
        let other = app.spawn_sharing(&[]).await;
        assert_eq!(other.push_signed(&forged, &sig, &ts, "31337").await.status(), 403);
        other.stop().await;
        assert_eq!(app.metric("scanquote_replays_refused_total").await, Some(1));
        // On SQLite the guard judges from memory, and says how much it holds: the one
        // query, once. On MySQL the signature's key judges, and memory holds nothing.
        let held = Some(u64::from(sqlite));
        assert_eq!(app.metric("scanquote_replay_guard_signatures").await, held);
        // So does the retry guard: the one scan, read back before the replay was judged.
        assert_eq!(app.metric("scanquote_retry_guard_identities").await, held);
        app.stop().await;
    }
}
