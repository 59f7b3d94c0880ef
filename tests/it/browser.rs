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
    let child = crate::support::dies_with_the_test(&mut Command::new(CHROMEDRIVER))
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
    let shop_line = text_of(&site, ".shop-line").await;
    assert!(
        shop_line.contains("好家装修（演示）") && shop_line.contains("400-800-1234"),
        "whose shop, and its phone: {shop_line}"
    );
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
    let figures = text_of(&wechat, ".figures").await;
    assert!(figures.contains("16000.50 元"), "{figures}");
    assert!(
        figures.contains("套内面积") && figures.contains("建筑面积"),
        "every figure: {figures}"
    );
    assert!(text_of(&wechat, "#shop-name").await.contains("好家装修"));
    let call = wechat.find(Locator::Css("#call")).await.unwrap();
    assert_eq!(
        call.attr("href").await.unwrap().as_deref(),
        Some("tel:4008001234")
    );
    assert!(call.text().await.unwrap().contains("拨打电话"));
    assert!(
        wechat.title().await.unwrap().contains("好家装修"),
        "the page title names the shop"
    );
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
    site.goto(&app.url("/no/such/page")).await.unwrap();
    assert_eq!(text_of(&site, "h1").await, "找不到这个页面");
    assert!(
        text_of(&site, ".shop-line").await.contains("好家装修"),
        "branded"
    );
    snap(&site, "09-unknown-path").await;

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

/// Fails if the page is wider than the viewport (a table or a word that does not fold).
async fn assert_fits(browser: &Client, what: &str) {
    let widths = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let (page, window) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(
        page <= window,
        "{what}: the page is {page} px wide in a {window} px window"
    );
}

/// Logs in from wherever the browser was sent to the login form.
async fn log_in(owner: &Client) {
    owner
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#token"))
        .await
        .unwrap();
    fill(owner, "#token", crate::support::ADMIN_TOKEN).await;
    click(owner, "form[action='/admin/login'] button").await;
}

/// Submits the form whose button is `css`, waits for the page it leads to (every
/// console form is a plain POST), and for that page to say `expected` at `at`. The new
/// page first: two forms in a row may end on the same notice ("已创建"), and the first
/// one's, still on screen, is not the second one's answer.
async fn submit_and_read(owner: &Client, css: &str, at: &str, expected: &str) -> String {
    owner
        .execute("window.submitting = true;", vec![])
        .await
        .unwrap();
    click(owner, css).await;
    let started = Instant::now();
    loop {
        // An error is a page between two documents: not there yet.
        let left = owner
            .execute("return window.submitting !== true;", vec![])
            .await;
        if matches!(left, Ok(serde_json::Value::Bool(true))) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the form of {css} led to no new page"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_text(owner, at, expected, Duration::from_secs(10)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_owner_runs_the_console_in_a_browser() {
    let Some(driver) = driver().await else { return };
    let app = TestApp::spawn(TestDb::Sqlite).await;
    let order = app.new_order().await;
    let profile = tempfile::tempdir().unwrap();
    let owner = phone(&driver, &profile).await;

    // A link to failed deliveries, opened signed out: log in, and land there.
    owner
        .goto(&app.url("/admin/deliveries?status=failed"))
        .await
        .unwrap();
    snap(&owner, "10-console-login").await;
    log_in(&owner).await;
    wait_for_text(&owner, ".filters .current", "失败", Duration::from_secs(10)).await;
    assert_eq!(
        owner.current_url().await.unwrap().query(),
        Some("status=failed")
    );
    assert!(text_of(&owner, "#empty").await.contains("没有“失败”的消息"));

    // The shop's identity: a bad phone is refused in words, with the input kept.
    owner.goto(&app.url("/admin/shop")).await.unwrap();
    fill(&owner, "#shop-name", "好家装修").await;
    fill(&owner, "#shop-phone", "请致电").await;
    let refused = submit_and_read(&owner, "#shop button", "#error", "电话").await;
    assert!(refused.contains("电话只能包含数字"), "{refused}");
    assert_eq!(
        owner
            .find(Locator::Css("#shop-name"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("好家装修")
    );
    fill(&owner, "#shop-phone", "021-6400 1234").await;
    fill(&owner, "#shop-address", "上海市徐汇区漕溪北路 88 号").await;
    assert_eq!(
        submit_and_read(&owner, "#shop button", "#notice", "已保存").await,
        "已保存"
    );
    assert!(text_of(&owner, ".console-head").await.contains("好家装修"));
    snap(&owner, "11-shop-saved").await;

    // The template: broken, the refusal names the part, the line and the field.
    owner.goto(&app.url("/admin/template")).await.unwrap();
    fill(&owner, "#t-title", "报价 {{ no_such_field }}").await;
    let error = submit_and_read(&owner, "#save-button", "#error", "第 1 行").await;
    assert_eq!(error, "标题第 1 行：订单里没有 no_such_field 这个字段");
    snap(&owner, "12-template-error").await;
    // Fixed and previewed against order 1: the preview is where the page opens.
    fill(&owner, "#t-title", "{{ building_area }}㎡ 的报价已保存").await;
    fill(&owner, "#t-order", &order.id.to_string()).await;
    let preview =
        submit_and_read(&owner, "#preview-button", "#preview", "110㎡ 的报价已保存").await;
    assert!(preview.contains("还没有保存"), "{preview}");
    assert_eq!(
        owner.current_url().await.unwrap().fragment(),
        Some("preview")
    );
    snap(&owner, "13-template-preview").await;
    // Saved: "已保存" at the top, the new version in force with its time and how.
    assert_eq!(
        submit_and_read(&owner, "#save-button", "#notice", "已保存").await,
        "已保存"
    );
    let newest = text_of(&owner, "#versions tbody tr").await;
    assert!(
        newest.contains("使用中") && newest.contains("保存"),
        "{newest}"
    );
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m-%d")
        .to_string();
    assert!(newest.contains(&today), "Beijing date in {newest}");
    // Saved again unchanged: said so, and no version added.
    let unchanged = submit_and_read(&owner, "#save-button", "#notice", "没有").await;
    assert_eq!(unchanged, "内容没有变化，没有新增版本");
    assert_eq!(app.count("templates").await, 2);
    snap(&owner, "14-template-saved").await;

    // A channel code made in the console, with a welcome and a tag, scanned in the
    // sandbox by someone who does not follow yet.
    owner.goto(&app.url("/admin/channel-codes")).await.unwrap();
    snap(&owner, "15-0-channel-codes-empty").await;
    fill(&owner, "#c-name", "张三").await;
    click(&owner, "#create input[name='welcome_kind'][value='text']").await;
    fill(&owner, "#c-welcome-text", "欢迎！张三带你来的").await;
    fill(&owner, "#c-tag", "地推").await;
    submit_and_read(&owner, "#create button[type='submit']", "#notice", "已创建").await;
    let list = admin_json(&app, "/api/admin/channel-codes").await;
    let code = &list["codes"][0];
    assert_eq!(
        (code["name"].as_str(), code["tag"].as_str()),
        (Some("张三"), Some("地推"))
    );
    let ticket = code["ticket"].as_str().unwrap().to_owned();
    let newcomer = app.sandbox_user("推广来的").await;
    assert_eq!(
        app.sandbox_scan(&newcomer, &ticket).await["event"],
        "subscribe"
    );
    owner.refresh().await.unwrap();
    assert_eq!(text_of(&owner, "#scans").await, "1");
    assert_eq!(text_of(&owner, "#new-followers").await, "1");
    assert!(
        owner
            .find(Locator::Css("#numbers .chart svg"))
            .await
            .is_ok(),
        "the chart"
    );
    let picture = owner
        .execute(
            "return document.querySelector('.code-picture').naturalWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(picture.as_u64(), Some(430), "the code's picture loads");
    snap(&owner, "15-1-channel-code").await;

    // A team's batch, from the console.
    owner.goto(&app.url("/admin/channel-codes")).await.unwrap();
    fill(&owner, "#b-prefix", "地推").await;
    fill(&owner, "#b-count", "5").await;
    fill(&owner, "#b-group", "地推队").await;
    submit_and_read(&owner, "#batch button[type='submit']", "#notice", "已创建").await;
    assert_eq!(
        owner
            .find_all(Locator::Css("table.codes tbody tr"))
            .await
            .unwrap()
            .len(),
        5,
        "the list shows the batch"
    );
    snap(&owner, "15-2-channel-batch").await;

    // A riddle's code: its answer arrives in the sandbox inbox.
    fill(&owner, "#c-name", "谜语").await;
    click(&owner, "#create input[name='reply_kind'][value='text']").await;
    fill(&owner, "#c-reply-text", "谜底：月亮").await;
    submit_and_read(&owner, "#create button[type='submit']", "#notice", "已创建").await;
    let riddle = admin_json(&app, "/api/admin/channel-codes?q=谜语").await;
    let reply_ticket = riddle["codes"][0]["ticket"].as_str().unwrap().to_owned();
    let riddle_id = riddle["codes"][0]["id"].as_i64().unwrap();
    let guesser = app.sandbox_user("猜谜的人").await;
    app.sandbox_scan(&guesser, &reply_ticket).await;

    // Disabled, asked first.
    owner
        .goto(&app.url(&format!("/admin/channel-codes/{riddle_id}")))
        .await
        .unwrap();
    owner
        .execute("window.confirm = () => true;", vec![])
        .await
        .unwrap();
    submit_and_read(
        &owner,
        "form[action$='/disable'] button",
        "#notice",
        "已停用",
    )
    .await;
    assert_eq!(text_of(&owner, "#state").await, "已停用");

    // A shopper scans the order: the deliveries page shows when (Beijing), who, the
    // order and how it went, in words.
    let shopper = app.sandbox_user("王女士").await;
    app.sandbox_scan(&shopper, &app.ticket(&order).await).await;
    app.wait_for_deliveries_to_settle().await;
    owner.goto(&app.url("/admin/deliveries")).await.unwrap();
    let row = text_of(&owner, "table.deliveries tbody tr").await;
    assert!(
        row.contains(&today) && row.contains("已发送") && row.contains(&format!("#{}", order.id)),
        "{row}"
    );
    assert!(
        row.contains("oSandb…") || row.contains("王女士"),
        "the shopper: {row}"
    );
    snap(&owner, "16-deliveries").await;

    // Every page fits a phone, at 390 px, and again in a 1280 px window.
    let pages = [
        "/admin",
        "/admin/template",
        "/admin/deliveries",
        "/admin/channel-codes",
        "/admin/channel-codes/1",
        "/admin/channel-codes/compare?id=1&id=2&id=3",
        "/admin/shop",
        "/admin/site",
        "/admin/settings",
    ];
    for (i, path) in pages.iter().enumerate() {
        owner.goto(&app.url(path)).await.unwrap();
        assert_fits(&owner, path).await;
        snap(
            &owner,
            &format!("17-{i}-console{}-390", path.replace('/', "-")),
        )
        .await;
    }
    owner
        .goto(&app.url(&format!("/sandbox/phone/{guesser}")))
        .await
        .unwrap();
    wait_for_text(&owner, ".inbox", "谜底：月亮", Duration::from_secs(10)).await;
    snap(&owner, "18-channel-reply-inbox").await;
    owner.close().await.unwrap();

    let wide_profile = tempfile::tempdir().unwrap();
    let wide = desktop(&driver, &wide_profile).await;
    wide.goto(&app.url("/admin")).await.unwrap();
    log_in(&wide).await;
    wide.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".console-nav"))
        .await
        .unwrap();
    for (i, path) in pages.iter().enumerate() {
        wide.goto(&app.url(path)).await.unwrap();
        assert_fits(&wide, path).await;
        snap(
            &wide,
            &format!("19-{i}-console{}-1280", path.replace('/', "-")),
        )
        .await;
    }
    wide.close().await.unwrap();
    app.stop().await;
}
