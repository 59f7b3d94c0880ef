//! `TestApp`: the service as `main` starts it, plus one helper per route.

use std::collections::HashMap;
use std::time::Duration;

use rand::Rng;
use reqwest::Response;
use scanquote::wechat::signature;
use scanquote::{App, AppState, Config};
use serde_json::{Value, json};

/// Runs a test body once on SQLite and once on MariaDB/MySQL (when `TEST_MYSQL_URL` is
/// set), each with a fresh database.
#[macro_export]
macro_rules! db_test {
    (async fn $name:ident($db:ident: TestDb) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($db: $crate::support::TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::support::TestDb::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                match $crate::support::TestDb::mysql() {
                    Some(db) => run(db).await,
                    None => eprintln!("TEST_MYSQL_URL is not set: MySQL variant skipped"),
                }
            }
        }
    };
}

#[derive(Clone, Debug)]
pub enum TestDb {
    Sqlite,
    /// A server URL such as `mysql://root@127.0.0.1:3306/test`.
    Mysql(String),
}

impl TestDb {
    pub fn mysql() -> Option<TestDb> {
        std::env::var("TEST_MYSQL_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .map(TestDb::Mysql)
    }
}

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// An order as a test holds it: its internal id, and the token public addresses take.
#[derive(Clone, Debug)]
pub struct OrderRef {
    pub id: i64,
    pub token: String,
}

/// A database that exists for one test only.
pub struct FreshDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    drop_from: Option<(String, String)>,
}

pub async fn fresh_database(db: &TestDb) -> FreshDb {
    match db {
        TestDb::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            FreshDb {
                url,
                _dir: Some(dir),
                drop_from: None,
            }
        }
        TestDb::Mysql(server) => {
            let name = format!("sq_test_{}", rand::thread_rng().r#gen::<u64>());
            let admin = sea_orm::Database::connect(server.as_str())
                .await
                .expect("TEST_MYSQL_URL reachable");
            use sea_orm::ConnectionTrait;
            admin
                .execute_unprepared(&format!(
                    "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                ))
                .await
                .expect("create test database");
            let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(server);
            FreshDb {
                url: format!("{base}/{name}"),
                _dir: None,
                drop_from: Some((server.clone(), name)),
            }
        }
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.drop_from.take() {
            // Drop runs outside async code: use a short-lived runtime on its own thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    use sea_orm::ConnectionTrait;
                    if let Ok(admin) = sea_orm::Database::connect(server.as_str()).await {
                        let _ = admin
                            .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`"))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub token: String,
    /// A site key made at start, as a shop's server holds one.
    pub site_key: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _db: FreshDb,
}

impl TestApp {
    /// Sandbox mode: no credentials, the built-in WeChat stand-in.
    pub async fn spawn(db: TestDb) -> TestApp {
        Self::spawn_with(db, &[]).await
    }

    /// Extra environment, e.g. credentials and `WECHAT_API_BASE` of a stand-in.
    pub async fn spawn_with(db: TestDb, vars: &[(&str, &str)]) -> TestApp {
        let fresh = fresh_database(&db).await;
        Self::start(fresh, vars).await
    }

    /// The service on a database prepared by the test.
    pub async fn start(fresh: FreshDb, vars: &[(&str, &str)]) -> TestApp {
        let mut env: HashMap<String, String> = HashMap::from([
            ("DATABASE_URL".into(), fresh.url.clone()),
            ("BIND_ADDR".into(), "127.0.0.1:0".into()),
        ]);
        // A known admin token, so tests can log in; no rate limit unless a test sets one.
        env.insert("ADMIN_TOKEN".into(), ADMIN_TOKEN.into());
        env.insert("RATE_LIMIT_PER_MINUTE".into(), "0".into());
        env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let token = env
            .get("WECHAT_TOKEN")
            .cloned()
            .unwrap_or_else(|| scanquote::config::SANDBOX_TOKEN.into());
        let config =
            Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration is valid");
        let app = App::build(config).await.expect("app builds");
        let base = format!("http://{}", app.address());
        let state = app.state().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        let site_key = state
            .domain
            .site_keys
            .create("测试网站")
            .await
            .expect("a site key")
            .key;
        TestApp {
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            state,
            token,
            site_key,
            stop: Some(stop),
            server: Some(server),
            _db: fresh,
        }
    }

    /// A second instance on this instance's database, talking to this instance's
    /// sandbox (as several instances behind a load balancer share one WeChat account).
    pub async fn spawn_sharing(&self, vars: &[(&str, &str)]) -> TestApp {
        let db = FreshDb {
            url: self._db.url.clone(),
            _dir: None,
            drop_from: None,
        };
        let api_base = format!("{}/sandbox", self.base);
        let mut all = vec![("WECHAT_API_BASE", api_base.as_str())];
        all.extend_from_slice(vars);
        Self::start(db, &all).await
    }

    /// Adds a fault to the sandbox's API (see `sandbox::faults`).
    pub async fn sandbox_fault(&self, fault: Value) {
        let r = self
            .http
            .post(self.url("/sandbox/api/faults"))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "fault accepted");
    }

    /// Lets the sandbox accept messages to openids it never saw (pushes made directly).
    pub async fn sandbox_open_recipients(&self) {
        let r = self
            .http
            .post(self.url("/sandbox/api/settings"))
            .json(&json!({"open_recipients": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }

    /// Stops serving and waits for in-flight work, as a SIGTERM would.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    /// POSTs an order with the app's site key, as a shop's server does.
    pub async fn create_order(&self, body: &str) -> Response {
        self.http
            .post(self.url("/api/orders"))
            .bearer_auth(&self.site_key)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("POST /api/orders")
    }

    /// GETs one of the site key's orders, by its `external_id` or token.
    pub async fn get_order(&self, reference: &str) -> Response {
        self.http
            .get(self.url(&format!("/api/orders/{reference}")))
            .bearer_auth(&self.site_key)
            .send()
            .await
            .expect("GET /api/orders/{ref}")
    }

    /// Creates a valid order (the article's three figures).
    pub async fn new_order(&self) -> OrderRef {
        let r = self
            .create_order(r#"{"total_money": 12800, "saved_money": "3200.50", "room_area": 88}"#)
            .await;
        assert_eq!(r.status(), 201);
        let order: Value = r.json().await.unwrap();
        OrderRef {
            id: order["id"].as_i64().unwrap(),
            token: order["token"].as_str().unwrap().to_owned(),
        }
    }

    /// The order's code, as the shopper's page asks for it.
    pub async fn qrcode(&self, order: &OrderRef) -> Value {
        let r = self
            .get(&format!("/api/orders/{}/qrcode", order.token))
            .await;
        assert_eq!(r.status(), 200, "qrcode for order {}", order.id);
        r.json().await.unwrap()
    }

    /// The order's live ticket.
    pub async fn ticket(&self, order: &OrderRef) -> String {
        self.qrcode(order).await["ticket"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The scene WeChat was asked to put in the code of `ticket`.
    pub async fn scene_of(&self, ticket: &str) -> String {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::qr_code::Entity::find()
            .filter(entity::qr_code::Column::Ticket.eq(ticket))
            .one(&self.state.domain.db)
            .await
            .unwrap()
            .expect("a code this service made")
            .scene
    }

    /// What WeChat pushes when `openid` scans the code of `ticket` (`SCAN`: a follower;
    /// `subscribe`: not yet one), with the code's scene as its EventKey.
    pub async fn scan_of(
        &self,
        openid: &str,
        event: &str,
        ticket: &str,
        create_time: i64,
    ) -> String {
        let scene = self.scene_of(ticket).await;
        let key = if event == "subscribe" {
            format!("qrscene_{scene}")
        } else {
            scene
        };
        scan_xml(openid, event, &key, Some(ticket), create_time)
    }

    /// A call to the admin API with the tests' token: its status and JSON body (null
    /// when it has none).
    pub async fn admin_api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    // --- the sandbox --------------------------------------------------------------

    pub async fn sandbox_user(&self, nickname: &str) -> String {
        let r = self
            .http
            .post(self.url("/sandbox/api/users"))
            .json(&json!({ "nickname": nickname }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["openid"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn sandbox_scan(&self, openid: &str, ticket: &str) -> Value {
        let r = self
            .http
            .post(self.url("/sandbox/api/scan"))
            .json(&json!({ "openid": openid, "ticket": ticket }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub async fn inbox(&self, openid: &str) -> Vec<Value> {
        self.get(&format!("/sandbox/api/users/{openid}/inbox"))
            .await
            .json()
            .await
            .unwrap()
    }

    /// Waits (up to 10 s) until the user's inbox holds `n` messages, then a little more
    /// to catch any extra message that should not come.
    pub async fn wait_for_inbox(&self, openid: &str, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            if self.inbox(openid).await.len() >= n {
                tokio::time::sleep(Duration::from_millis(300)).await;
                return self.inbox(openid).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.inbox(openid).await
    }

    pub async fn sandbox_stats(&self) -> Value {
        self.get("/sandbox/api/stats").await.json().await.unwrap()
    }

    // --- the callback ---------------------------------------------------------------

    /// POSTs `xml` to `/wechat` signed with the configured token, as WeChat does.
    pub async fn push(&self, xml: impl AsRef<[u8]>) -> Response {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let nonce = rand::thread_rng().gen_range(1..u32::MAX).to_string();
        let sig = signature::sign(&[&self.token, &timestamp, &nonce]);
        self.push_signed(xml, &sig, &timestamp, &nonce).await
    }

    pub async fn push_signed(
        &self,
        xml: impl AsRef<[u8]>,
        sig: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Response {
        self.http
            .post(self.url("/wechat"))
            .query(&[
                ("signature", sig),
                ("timestamp", timestamp),
                ("nonce", nonce),
                ("openid", "x"),
            ])
            .header("content-type", "text/xml")
            .body(xml.as_ref().to_vec())
            .send()
            .await
            .unwrap()
    }

    /// The value `/metrics` gives the counter or gauge `name` (without labels), if it
    /// lists it.
    pub async fn metric(&self, name: &str) -> Option<u64> {
        let metrics = self.get("/metrics").await.text().await.unwrap();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    // --- the database -----------------------------------------------------------------

    pub async fn count(&self, table: &str) -> i64 {
        use sea_orm::{ConnectionTrait, Statement};
        let backend = self.state.domain.db.get_database_backend();
        let row = self
            .state
            .domain
            .db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }

    /// The outbox's messages (not its webhook events), oldest first.
    pub async fn deliveries(&self) -> Vec<entity::delivery::Model> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        entity::delivery::Entity::find()
            .filter(entity::delivery::Column::Kind.eq("message"))
            .order_by_asc(entity::delivery::Column::Id)
            .all(&self.state.domain.db)
            .await
            .unwrap()
    }

    /// Waits until no delivery is pending or being sent (each is sent, failed or
    /// unknown).
    pub async fn wait_for_deliveries_to_settle(&self) -> Vec<entity::delivery::Model> {
        for _ in 0..400 {
            let all = self.deliveries().await;
            if all
                .iter()
                .filter(|d| d.kind == "message")
                .all(|d| matches!(d.status.as_str(), "sent" | "failed" | "unknown"))
            {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("deliveries did not settle: {:?}", self.deliveries().await);
    }
}

/// POSTs `xml` to a service at `base` (not a `TestApp`: a child process), signed with the
/// sandbox token as WeChat would, with WeChat's patience of 5 seconds.
pub async fn push_signed_to(
    http: &reqwest::Client,
    base: &str,
    xml: &str,
) -> reqwest::Result<Response> {
    push_signed_with(http, base, scanquote::config::SANDBOX_TOKEN, xml).await
}

/// [`push_signed_to`] a service whose callback token is `token`.
pub async fn push_signed_with(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    xml: &str,
) -> reqwest::Result<Response> {
    push_signed_within(http, base, token, xml, Duration::from_secs(5)).await
}

/// [`push_signed_with`], by a sender that gives up after `patience`.
pub async fn push_signed_within(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    xml: &str,
    patience: Duration,
) -> reqwest::Result<Response> {
    let ts = chrono::Utc::now().timestamp().to_string();
    // One nonce per body, as WeChat does: its retry of a push repeats the query, and
    // another push gets its own (the same query with another body is a replay).
    let nonce = u32::from_str_radix(&signature::sign(&[xml])[..8], 16)
        .unwrap()
        .to_string();
    let sig = signature::sign(&[token, &ts, &nonce]);
    http.post(format!("{base}/wechat"))
        .query(&[
            ("signature", sig.as_str()),
            ("timestamp", ts.as_str()),
            ("nonce", nonce.as_str()),
        ])
        .body(xml.to_owned())
        .timeout(patience)
        .send()
        .await
}

/// Makes a site key at a service process whose admin token is `admin`.
pub async fn site_key_at(http: &reqwest::Client, base: &str, admin: &str) -> String {
    let made: Value = http
        .post(format!("{base}/api/admin/site-keys"))
        .bearer_auth(admin)
        .json(&json!({"name": "测试网站"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    made["key"].as_str().expect("a site key").to_owned()
}

/// Creates an order at a service process with `key`; returns its token.
pub async fn create_order_at(http: &reqwest::Client, base: &str, key: &str) -> String {
    let order: Value = http
        .post(format!("{base}/api/orders"))
        .bearer_auth(key)
        .body(r#"{"total_money": 100, "saved_money": 1, "room_area": 10}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    order["token"].as_str().expect("an order token").to_owned()
}

/// An order's live ticket at a service process.
pub async fn ticket_at(http: &reqwest::Client, base: &str, token: &str) -> String {
    let code: Value = http
        .get(format!("{base}/api/orders/{token}/qrcode"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    code["ticket"].as_str().expect("a ticket").to_owned()
}

/// A new sandbox user at a service process scans `ticket` (the push answered); returns
/// the user's openid.
pub async fn sandbox_scan_at(
    http: &reqwest::Client,
    base: &str,
    nickname: &str,
    ticket: &str,
) -> String {
    let user: Value = http
        .post(format!("{base}/sandbox/api/users"))
        .json(&json!({ "nickname": nickname }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let openid = user["openid"].as_str().expect("an openid").to_owned();
    let scanned = http
        .post(format!("{base}/sandbox/api/scan"))
        .json(&json!({ "openid": openid, "ticket": ticket }))
        .send()
        .await
        .unwrap();
    assert_eq!(scanned.status(), 200, "the sandbox scan");
    openid
}

/// A new order's live ticket at a service process started with the tests' admin token.
pub async fn order_ticket_at(http: &reqwest::Client, base: &str) -> String {
    let key = site_key_at(http, base, ADMIN_TOKEN).await;
    let token = create_order_at(http, base, &key).await;
    ticket_at(http, base, &token).await
}

/// A scan event as WeChat pushes it.
pub fn scan_xml(
    openid: &str,
    event: &str,
    event_key: &str,
    ticket: Option<&str>,
    create_time: i64,
) -> String {
    let ticket = ticket
        .map(|t| format!("<Ticket><![CDATA[{t}]]></Ticket>"))
        .unwrap_or_default();
    format!(
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{event_key}]]></EventKey>{ticket}</xml>"
    )
}

/// The real `scanquote` binary in a child process, its output in a file.
pub struct ServiceProcess {
    pub child: std::process::Child,
    pub base: String,
}

/// A port nothing listens on just now (for a process that must be told its port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `command`, set to have its process killed when the thread that starts it ends, and
/// so when this test binary does, however it ends. A test binary killed (a timeout, a
/// ^C) otherwise left its services running, polling the shared MariaDB and taking CPU
/// from whatever ran next. (Tests start their children from the test's own thread or
/// the runtime's workers, which live until the test is over.)
pub fn dies_with_the_test(command: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the child only calls prctl, which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

impl ServiceProcess {
    /// Starts the binary; `name` names its log file in `dir` (one file per start).
    // The child is owned by the returned value (or killed on a failed start) by `Drop`.
    #[allow(clippy::zombie_processes)]
    pub async fn start(dir: &std::path::Path, name: &str, vars: &[(&str, &str)]) -> ServiceProcess {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = dies_with_the_test(&mut std::process::Command::new(env!(
            "CARGO_BIN_EXE_scanquote"
        )))
        .current_dir(dir)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("NO_COLOR", "1")
        .env("RATE_LIMIT_PER_MINUTE", "0")
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .envs(vars.iter().copied())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
        let started = std::time::Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            // A line as it is, or its message when the logs are JSON (LOG_FORMAT=json).
            let said = |l: &str| match serde_json::from_str::<Value>(l) {
                Ok(v) => v["message"].as_str().unwrap_or_default().to_owned(),
                Err(_) => l.to_owned(),
            };
            if let Some(line) = text
                .lines()
                .map(said)
                .find(|l| l.starts_with("scanquote 已启动，监听 "))
            {
                let base = line
                    .trim_start_matches("scanquote 已启动，监听 ")
                    .trim()
                    .to_owned();
                return ServiceProcess { child, base };
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{name} did not start: {text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status and how long the exit took.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let started = std::time::Instant::now();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        (status, started.elapsed())
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
