//! The shopper's path in a real browser: headless Chromium, driven over WebDriver
//! (chromedriver) with fantoccini, at a phone's viewport. Screenshots go to
//! `target/screenshots/`. `.ci/run` installs Chromium and its driver; elsewhere the test
//! is skipped (with a message) when they are missing.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support::{TestApp, TestDb};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port, stopped on drop.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver, or says why the browser tests cannot run here.
pub(crate) async fn driver() -> Option<Driver> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromium and chromium-driver (see .ci/run)"
        );
        eprintln!(
            "chromium or chromedriver missing: browser test skipped (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some(driver)
}

/// A fresh browser profile at a phone's viewport.
pub(crate) async fn phone(driver: &Driver, profile: &tempfile::TempDir) -> Client {
    // Headless windows are at least 500 px wide; emulate the phone instead.
    let metrics = json!({ "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 2, "mobile": true, "touch": true } });
    browser(driver, profile, &[], Some(metrics)).await
}

/// A fresh browser profile in a 1280×800 desktop window.
pub(crate) async fn desktop(driver: &Driver, profile: &tempfile::TempDir) -> Client {
    browser(driver, profile, &["--window-size=1280,800"], None).await
}

async fn browser(
    driver: &Driver,
    profile: &tempfile::TempDir,
    extra: &[&str],
    mobile: Option<serde_json::Value>,
) -> Client {
    let mut args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--no-first-run".into(),
        "--hide-scrollbars".into(),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut options = json!({ "binary": CHROMIUM, "args": args });
    if let Some(mobile) = mobile {
        options["mobileEmulation"] = mobile;
    }
    let caps = json!({ "goog:chromeOptions": options });
    let caps = caps.as_object().unwrap().clone().into_iter().collect();
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

pub(crate) fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) async fn snap(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

pub(crate) async fn text_of(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the element's text contains `expected`.
pub(crate) async fn wait_for_text(
    browser: &Client,
    css: &str,
    expected: &str,
    within: Duration,
) -> String {
    let started = Instant::now();
    loop {
        if let Ok(el) = browser.find(Locator::Css(css)).await
            && let Ok(text) = el.text().await
            && text.contains(expected)
        {
            return text;
        }
        assert!(
            started.elapsed() < within,
            "{css} never showed {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_scans_gets_the_card_and_opens_their_quote_in_a_browser() {
    let Some(driver) = driver().await else { return };
    let app = TestApp::spawn(TestDb::Sqlite).await;
    let order = app.new_order().await;
    let token = order.token.clone();
    let (site_profile, phone_profile, friend_profile) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );

    // The shop's page, on the shopper's phone.
    let site = phone(&driver, &site_profile).await;
    site.goto(&app.url(&format!("/orders/{token}")))
        .await
        .unwrap();
    wait_for_text(&site, "#validity", "分", Duration::from_secs(10)).await;
    site.execute("window.__loadedAt = 42;", vec![])
        .await
        .unwrap();
    assert_eq!(text_of(&site, "#status").await, "等待扫码…");
    assert!(text_of(&site, ".scan-hint").await.contains("用微信扫一扫"));
    snap(&site, "01-order-page").await;

    // The sandbox phone scans the code.
    let wechat = phone(&driver, &phone_profile).await;
    let ticket = app.ticket(&order).await;
    wechat
        .goto(&app.url(&format!(
            "/sandbox/?ticket={}",
            urlencoding::encode(&ticket)
        )))
        .await
        .unwrap();
    snap(&wechat, "02-sandbox-phone").await;
    click(&wechat, "form[action='/sandbox/scan'] button").await;

    // The shop's page turns to "sent" without a reload.
    wait_for_text(&site, "#status", "已发送到您的微信", Duration::from_secs(5)).await;
    let marker = site
        .execute("return window.__loadedAt;", vec![])
        .await
        .unwrap();
    assert_eq!(marker, json!(42), "the page was not reloaded");
    snap(&site, "03-order-sent").await;

    // The card arrives in the phone's inbox; tapping it opens the quote inside "WeChat".
    let card = wechat
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("a.news"))
        .await;
    if card.is_err() {
        snap(&wechat, "debug-inbox").await;
        panic!(
            "no card at {}: {}",
            wechat.current_url().await.unwrap(),
            wechat.source().await.unwrap()
        );
    }
    let card = card.unwrap();
    assert!(card.text().await.unwrap().contains("12800 元"));
    snap(&wechat, "04-inbox-card").await;
    card.click().await.unwrap();

    // First time inside WeChat: the sandbox asks for consent; 小明 allows.
    wechat
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#allow"))
        .await
        .unwrap();
    snap(&wechat, "05-consent").await;
    click(&wechat, "#allow").await;
    let nickname = wait_for_text(&wechat, "#nickname", "小明", Duration::from_secs(10)).await;
    assert_eq!(nickname, "小明");
    assert!(
        wechat.find(Locator::Css("img.avatar")).await.is_ok(),
        "the avatar is shown"
    );
    assert!(text_of(&wechat, ".figures").await.contains("16000.50 元"));
    snap(&wechat, "06-quote-page").await;
    let link = wechat.current_url().await.unwrap();
    assert_eq!(link.path(), "/quote");

    // Someone else, in another browser profile, opens the shared link: the owner's
    // profile, no consent asked.
    let friend = phone(&driver, &friend_profile).await;
    friend.goto(link.as_str()).await.unwrap();
    assert_eq!(
        friend.current_url().await.unwrap(),
        link,
        "no detour through authorization"
    );
    assert_eq!(text_of(&friend, "#nickname").await, "小明");
    snap(&friend, "07-shared-link").await;

    // The embeddable card and the friendly 404.
    site.goto(&app.url(&format!("/orders/{token}?embed=1")))
        .await
        .unwrap();
    wait_for_text(&site, "#status", "已发送到您的微信", Duration::from_secs(5)).await;
    snap(&site, "08-embed-card").await;
    site.goto(&app.url(&format!("/orders/{}", order.id)))
        .await
        .unwrap();
    assert!(text_of(&site, "h1").await.contains("找不到"));
    snap(&site, "09-not-found").await;

    for browser in [site, wechat, friend] {
        browser.close().await.unwrap();
    }
    app.stop().await;
}

async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// An admin API answer, read behind the browser's back (as a script would).
async fn admin_json(app: &TestApp, path: &str) -> serde_json::Value {
    let r = app
        .http
        .get(app.url(path))
        .bearer_auth(crate::support::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

async fn fill(browser: &Client, css: &str, value: &str) {
    let el = browser.find(Locator::Css(css)).await.unwrap();
    el.clear().await.unwrap();
    el.send_keys(value).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_owner_runs_the_console_in_a_browser() {
    let Some(driver) = driver().await else { return };
    let app = TestApp::spawn(TestDb::Sqlite).await;
    app.new_order().await;
    let profile = tempfile::tempdir().unwrap();
    let owner = phone(&driver, &profile).await;

    // Log in.
    owner.goto(&app.url("/admin")).await.unwrap();
    fill(&owner, "#token", crate::support::ADMIN_TOKEN).await;
    snap(&owner, "10-console-login").await;
    click(&owner, "form[action='/admin/login'] button").await;
    owner
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#t-title"))
        .await
        .unwrap();

    // Break the template: the error names the part and line; nothing changes.
    fill(&owner, "#t-title", "报价 {{ no_such_field }}").await;
    click(&owner, "#save-button").await;
    let error = wait_for_text(&owner, "#error", "line 1", Duration::from_secs(10)).await;
    assert!(error.starts_with("title line 1: names a field"), "{error}");
    assert!(
        error.contains("no_such_field"),
        "the field is named: {error}"
    );
    snap(&owner, "11-template-error").await;

    // Fix it, preview against order 1, then save.
    fill(&owner, "#t-title", "{{ building_area }}㎡ 的报价已保存").await;
    fill(&owner, "#t-order", "1").await;
    click(&owner, "#preview-button").await;
    wait_for_text(
        &owner,
        "#preview",
        "110㎡ 的报价已保存",
        Duration::from_secs(10),
    )
    .await;
    snap(&owner, "12-template-preview").await;
    click(&owner, "#save-button").await;
    wait_for_text(&owner, "#template table", "使用中", Duration::from_secs(10)).await;

    // A promoter code, scanned in the sandbox by someone who does not follow yet.
    fill(&owner, "#promoter", "shop-7").await;
    click(&owner, "form[action='/admin/promoters'] button").await;
    wait_for_text(&owner, "#promoters", "shop-7", Duration::from_secs(10)).await;
    let list = admin_json(&app, "/api/admin/promoters").await;
    let ticket = list["promoters"][0]["ticket"].as_str().unwrap().to_owned();
    let newcomer = app.sandbox_user("推广来的").await;
    assert_eq!(
        app.sandbox_scan(&newcomer, &ticket).await["event"],
        "subscribe"
    );
    owner.refresh().await.unwrap();
    assert_eq!(text_of(&owner, ".promoter .followers").await, "1");
    assert!(
        owner
            .find(Locator::Css(".promoter .chart svg"))
            .await
            .is_ok(),
        "the 30-day chart"
    );
    owner
        .execute(
            "document.getElementById('promoters').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    snap(&owner, "13-promoter-attribution").await;

    // A scene reply, and its arrival in the sandbox inbox as a passive reply.
    fill(&owner, "#scene", "riddle-1").await;
    fill(&owner, "#text", "谜底：月亮").await;
    click(&owner, "form[action='/admin/scene-replies'] button").await;
    wait_for_text(&owner, "#replies", "riddle-1", Duration::from_secs(10)).await;
    let replies = admin_json(&app, "/api/admin/scene-replies").await;
    let reply_ticket = replies[0]["ticket"].as_str().unwrap().to_owned();
    let guesser = app.sandbox_user("猜谜的人").await;
    app.sandbox_scan(&guesser, &reply_ticket).await;
    owner
        .goto(&app.url(&format!("/sandbox/phone/{guesser}")))
        .await
        .unwrap();
    wait_for_text(&owner, ".inbox", "谜底：月亮", Duration::from_secs(10)).await;
    snap(&owner, "14-scene-reply-inbox").await;

    owner.close().await.unwrap();
    app.stop().await;
}
