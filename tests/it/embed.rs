//! The embed on a shop's own page, in a real browser: a plain HTML page served from
//! another origin (one of `EMBED_ORIGINS`) draws the code with one script tag and
//! turns to "sent" after a scan, without a reload. A site not listed gets no code.

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::response::Html;
use axum::routing::get;
use fantoccini::Client;

use crate::browser::{desktop, driver, phone, snap, wait_for_text};
use crate::support::{TestApp, TestDb};

/// A shop's own site on `localhost:<port>` (the service is on 127.0.0.1, so another
/// origin): a plain page with a heading, a price and the one line it pastes. Which
/// service and order it embeds come in the query.
async fn shop_site() -> String {
    let page = |Query(q): Query<HashMap<String, String>>| async move {
        let (service, token) = (&q["service"], &q["order"]);
        Html(format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>某某装修 · 报价</title></head>\
             <body style=\"font-family:sans-serif;margin:16px\"><h1>您的装修报价：12800 元</h1>\
             <p>扫码把报价保存到微信：</p>\
             <script src=\"{service}/embed.js\" data-order=\"{token}\"></script>\
             <p id=\"after\">（页面其余内容）</p></body></html>"
        ))
    };
    let router = Router::new().route("/", get(page));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    origin
}

async fn open_shop(browser: &Client, origin: &str, app: &TestApp, token: &str) {
    let url = format!(
        "{origin}/?service={}&order={token}",
        urlencoding::encode(&app.base)
    );
    browser.goto(&url).await.unwrap();
    wait_for_text(
        browser,
        ".scanquote-status",
        "等待扫码",
        Duration::from_secs(10),
    )
    .await;
}

async fn image_width(browser: &Client) -> u64 {
    let js = "var i = document.querySelector('.scanquote-embed img'); return i && i.complete ? i.naturalWidth : 0;";
    browser
        .execute(js, vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embed_on_a_shops_own_page_turns_to_sent_without_a_reload() {
    let Some(driver) = driver().await else { return };
    let (shop, stranger) = (shop_site().await, shop_site().await);
    let app = TestApp::spawn_with(TestDb::Sqlite, &[("EMBED_ORIGINS", shop.as_str())]).await;

    for (width, small) in [("390", true), ("1280", false)] {
        let order = app.new_order().await;
        let profile = tempfile::tempdir().unwrap();
        let browser = if small {
            phone(&driver, &profile).await
        } else {
            desktop(&driver, &profile).await
        };
        open_shop(&browser, &shop, &app, &order.token).await;
        browser
            .execute("window.__loadedAt = 7;", vec![])
            .await
            .unwrap();
        let started = std::time::Instant::now();
        while image_width(&browser).await == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the code's image never loaded"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        snap(&browser, &format!("20-embed-waiting-{width}")).await;

        let ticket = app.ticket(&order).await;
        let openid = app.sandbox_user("嵌入").await;
        app.sandbox_scan(&openid, &ticket).await;

        wait_for_text(
            &browser,
            ".scanquote-status",
            "已发送到您的微信",
            Duration::from_secs(10),
        )
        .await;
        let marker = browser
            .execute("return window.__loadedAt;", vec![])
            .await
            .unwrap();
        assert_eq!(marker, serde_json::json!(7), "the page was not reloaded");
        snap(&browser, &format!("21-embed-sent-{width}")).await;
        browser.close().await.unwrap();
    }

    // A site not in EMBED_ORIGINS: its page may load the script, but not the code.
    let order = app.new_order().await;
    let profile = tempfile::tempdir().unwrap();
    let browser = phone(&driver, &profile).await;
    open_shop(&browser, &stranger, &app, &order.token).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        image_width(&browser).await,
        0,
        "no code for a site not listed"
    );
    assert_eq!(
        app.sandbox_stats().await["qrcode_create_calls"],
        2,
        "nor a code made for it"
    );
    browser.close().await.unwrap();
    app.stop().await;
}
