//! Hardening from outside: templates that cannot hurt, numbers in range, exports that
//! cannot turn into formulas, the quote page's writes throttled.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::db_test;
use crate::support::{ADMIN_TOKEN, TestApp};

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

db_test! {
    async fn a_template_that_chooses_a_javascript_link_never_sends_one(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let first = app.new_order().await;
        let second = app.new_order().await;
        // Checked against the sample order (id 1), it renders the real link and saves.
        let link = "{% if order_id == 1 %}{{ quote_url }}{% else %}javascript:alert(1){% endif %}";
        let (status, saved) = admin(&app, reqwest::Method::PUT, "/api/admin/template",
            Some(json!({"title": "报价", "description": "", "pic_url": "", "link": link}))).await;
        assert_eq!(status, 200, "{saved}");
        let (a, b) = (app.sandbox_user("甲").await, app.sandbox_user("乙").await);

        app.sandbox_scan(&a, &app.ticket(&first).await).await;
        app.sandbox_scan(&b, &app.ticket(&second).await).await;

        let settled = app.wait_for_deliveries_to_settle().await;
        let by = |id: i64| settled.iter().find(|d| d.order_id == Some(id)).unwrap();
        assert_eq!(by(first.id).status, "sent");
        let refused = by(second.id);
        assert_eq!(refused.status, "failed");
        assert!(refused.errmsg.as_deref().unwrap_or_default().contains("链接"), "{refused:?}");
        let inbox = app.wait_for_inbox(&a, 1).await;
        assert!(inbox[0]["url"].as_str().unwrap().starts_with("http"));
        assert!(app.inbox(&b).await.is_empty(), "no card with a javascript: link");
        app.stop().await;
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

db_test! {
    async fn templates_that_would_run_long_or_grow_huge_are_refused_at_once(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let before = rss_kib();
        let heavy = [
            "{{ 'x' * 99999999 }}",
            "{% for a in quote_url %}{% for b in quote_url %}{% for c in quote_url %}{% for d in quote_url %}.{% endfor %}{% endfor %}{% endfor %}{% endfor %}",
            "{% set s = quote_url %}{{ s }}",
            "{{ quote_url | center(1000000000) }}",
        ];
        let health = {
            let http = app.http.clone();
            let url = app.url("/healthz");
            tokio::spawn(async move {
                let mut worst = Duration::ZERO;
                for _ in 0..40 {
                    let t = Instant::now();
                    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
                    worst = worst.max(t.elapsed());
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                worst
            })
        };
        for _ in 0..10 {
            for description in heavy {
                let body = json!({"title": "t", "description": description, "pic_url": "", "link": "{{ quote_url }}"});
                let started = Instant::now();
                let (status, err) = admin(&app, reqwest::Method::POST, "/api/admin/template/preview", Some(body.clone())).await;
                assert_eq!((status, err["field"].as_str()), (400, Some("description")), "{description}: {err}");
                assert!(started.elapsed() < Duration::from_secs(2), "{description} took {:?}", started.elapsed());
                let (status, _) = admin(&app, reqwest::Method::PUT, "/api/admin/template", Some(body)).await;
                assert_eq!(status, 400, "{description} is not saved either");
            }
        }
        let worst = health.await.unwrap();
        assert!(worst < Duration::from_secs(1), "/healthz waited {worst:?}");
        let grown_mib = rss_kib().saturating_sub(before) / 1024;
        assert!(grown_mib < 64, "RSS grew {grown_mib} MiB");
        assert_eq!(app.count("templates").await, 1);
        app.stop().await;
    }
}

db_test! {
    async fn page_numbers_out_of_range_are_a_bad_request_naming_the_field(db: TestDb) {
        let app = TestApp::spawn(db).await;
        for (path, field) in [
            ("/api/admin/deliveries?page=18446744073709551615", "page"),
            ("/api/admin/deliveries?page=-1", "page"),
            ("/api/admin/deliveries?per_page=0", "per_page"),
            ("/api/admin/deliveries?per_page=abc", "per_page"),
            ("/api/admin/webhook/events?limit=99999999999999999999", "limit"),
            ("/api/admin/foreign-scans?limit=-5", "limit"),
        ] {
            let (status, err) = admin(&app, reqwest::Method::GET, path, None).await;
            assert_eq!((status, err["field"].as_str()), (400, Some(field)), "{path}: {err}");
        }
        let login = app.http.post(app.url("/admin/login")).form(&[("token", ADMIN_TOKEN)]).send().await.unwrap();
        let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        for path in ["/admin/deliveries?page=922337203685477580", "/admin/deliveries?page=x", "/admin/deliveries?status=nope"] {
            let r = app.http.get(app.url(path)).header("cookie", &session).send().await.unwrap();
            assert_eq!(r.status(), 400, "{path}");
        }
        app.stop().await;
    }
}

db_test! {
    async fn exported_cells_cannot_turn_into_formulas(db: TestDb) {
        let app = TestApp::spawn(db).await;
        app.sandbox_open_recipients().await;
        let created: Value = app.create_order(r#"{"external_id": "=HYPERLINK(\"http://evil\",\"x\")", "total_money": 1, "saved_money": 0, "room_area": 1}"#).await.json().await.unwrap();
        let token = created["token"].as_str().unwrap();
        let code: Value = app.get(&format!("/api/orders/{token}/qrcode")).await.json().await.unwrap();
        let ticket = code["ticket"].as_str().unwrap();
        app.push(app.scan_of("oFormula00001", "SCAN", ticket, chrono::Utc::now().timestamp()).await).await;
        app.wait_for_deliveries_to_settle().await;

        let csv = app.http.get(app.url("/api/admin/deliveries.csv")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().text().await.unwrap();
        assert!(csv.starts_with('\u{feff}'), "a BOM for Excel");
        assert!(csv.contains(r#","'=HYPERLINK(""http://evil"",""x"")","#), "neutralised and quoted: {csv}");
        for line in csv.lines().skip(1) {
            for cell in line.split(',') {
                assert!(!cell.trim_start_matches('"').starts_with(['=', '+', '-', '@']), "{cell} in {csv}");
            }
        }
        app.stop().await;
    }
}

db_test! {
    async fn guessing_the_admin_token_is_stopped_after_sixty_tries_a_minute(db: TestDb) {
        let app = TestApp::spawn(db).await;
        // Near a minute's end the window could turn over mid-test: start in a fresh one.
        let second = chrono::Utc::now().timestamp() % 60;
        if second > 50 {
            tokio::time::sleep(Duration::from_secs((61 - second) as u64)).await;
        }
        for i in 0..60 {
            let r = app.http.get(app.url("/api/admin/deliveries")).bearer_auth(format!("guess-{i:016}")).send().await.unwrap();
            assert_eq!(r.status(), 401, "try {i}");
        }
        let sixty_first = app.http.get(app.url("/api/admin/deliveries")).bearer_auth("guess-again-00000000").send().await.unwrap();
        assert_eq!(sixty_first.status(), 429);
        assert!(sixty_first.headers().contains_key("retry-after"));
        let right = app.http.get(app.url("/api/admin/deliveries")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(right.status(), 429, "a right guess now tells nothing either");
        let form = app.http.post(app.url("/admin/login")).form(&[("token", ADMIN_TOKEN)]).send().await.unwrap();
        assert_eq!(form.status(), 429, "nor does the login form");
        app.stop().await;
    }
}

db_test! {
    async fn a_logged_out_session_is_refused_everywhere(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let other = app.spawn_sharing(&[]).await;
        let login = app.http.post(app.url("/admin/login")).form(&[("token", ADMIN_TOKEN)]).send().await.unwrap();
        let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let page = app.http.get(app.url("/admin")).header("cookie", &session).send().await.unwrap().text().await.unwrap();
        let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        for base in [&app, &other] {
            let r = base.http.get(base.url("/api/admin/deliveries")).header("cookie", &session).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }

        let out = app.http.post(app.url("/admin/logout")).header("cookie", &session).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(out.status(), 303);

        for base in [&app, &other] {
            let r = base.http.get(base.url("/api/admin/deliveries")).header("cookie", &session).send().await.unwrap();
            assert_eq!(r.status(), 401, "the old cookie, replayed");
        }
        other.stop().await;
        app.stop().await;
    }
}
