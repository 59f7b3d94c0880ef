//! A stand-in for WeChat, served under `/sandbox` when no credentials are configured.
//!
//! It plays both sides the service talks to: the API (`api`: token and stable_token with
//! expiry, qrcode/create with its argument checks, showqrcode, message/custom/send with
//! the one-article and one-minute rules, user/info without nickname, as WeChat answers
//! today), and the phone that scans (`phone`: users who follow or not, scanning a
//! ticket pushes a signed `subscribe`/`SCAN` to the callback with WeChat's 5-second
//! timeout and 3 tries, and an inbox of what the account sent).
//!
//! It shares no code with the `wechat` client on purpose: it checks requests the way
//! WeChat does, so a client bug shows up here instead of in production. (It does share
//! the platform's rules for a scene, `wechat::scene`, and its signing and AES
//! primitives, which are the definitions both sides must agree on.) It has its own
//! state, this [`Sandbox`], and its own router, which the service mounts under
//! `/sandbox` in sandbox mode.

mod api;
mod faults;
mod oauth;
mod pages;
mod phone;

pub use faults::Fault;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use secrecy::SecretString;
use serde::Serialize;
use url::Url;

use crate::config::WechatConfig;
use crate::wechat::crypto::MessageCrypto;

/// Set by the phone's in-app browser, as WeChat's marks itself `MicroMessenger`: the
/// quote page then behaves as inside WeChat (it asks for web authorization).
pub const IN_WECHAT_COOKIE: &str = "sq_sandbox_wechat";
/// The sandbox account's original id (`ToUserName` of pushes).
pub const ACCOUNT: &str = "gh_sandbox0000";
/// Tokens live as long as WeChat's.
const TOKEN_SECONDS: i64 = 7200;
/// After a scan or subscribe, the account may send this many messages…
const WINDOW_MESSAGES: u32 = 3;
/// …within this long.
const WINDOW_MS: i64 = 60_000;

#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    world: Mutex<World>,
    http: reqwest::Client,
    /// Where pushes go: the service's `/wechat`.
    callback: Url,
    /// The sandbox's own API base, for showqrcode links.
    api_base: Url,
    /// The service's own address, as bound and as published (`PUBLIC_BASE_URL`): the
    /// in-app browser opens only links to it.
    home: Url,
    public_base: Url,
    pages: pages::Pages,
    app_id: String,
    app_secret: SecretString,
    token: SecretString,
    /// Set when the service runs in AES mode: pushes are then encrypted (safe mode
    /// unless a scan asks for compatible) and encrypted replies are opened.
    crypto: Option<MessageCrypto>,
}

#[derive(Default)]
struct World {
    users: BTreeMap<String, User>,
    /// Every token issued and when it stops working.
    tokens: HashMap<String, i64>,
    /// The current stable token.
    stable: Option<(String, i64)>,
    tickets: HashMap<String, Ticket>,
    inbox: Vec<Received>,
    pushes: Vec<PushRecord>,
    stats: Stats,
    next_user: u32,
    faults: Vec<Fault>,
    /// Web authorization codes (single-use) and web tokens: value → (openid, expiry).
    oauth_codes: HashMap<String, (String, i64)>,
    web_tokens: HashMap<String, (String, i64)>,
    /// Accept messages to openids the sandbox never saw, as if they had just scanned:
    /// for load tests that push straight to the callback instead of through the phone.
    open_recipients: bool,
    /// The account's tags, by id.
    tags: BTreeMap<i64, String>,
    /// Every openid a batchtagging call named, in order (what tests count).
    tagged: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub openid: String,
    pub nickname: String,
    pub following: bool,
    pub subscribe_time: i64,
    /// When the last scan/subscribe event opened a message window, and how many messages
    /// the account sent in it.
    #[serde(skip)]
    window_opened_ms: i64,
    #[serde(skip)]
    window_used: u32,
    /// The names of the account's tags the user carries.
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    pub ticket: String,
    pub url: String,
    pub action_name: String,
    pub scene: String,
    pub expires_at_ms: Option<i64>,
}

/// A message the account sent to a sandbox user.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    pub openid: String,
    pub msgtype: String,
    pub title: String,
    pub description: String,
    pub url: String,
    pub picurl: String,
    pub at_ms: i64,
    /// `customer-service` (message/custom/send) or `passive` (the callback's reply).
    pub via: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PushRecord {
    pub openid: String,
    pub event: String,
    pub event_key: String,
    pub tries: u32,
    /// HTTP status of the last try, or the transport error.
    pub outcome: String,
    pub reply: String,
}

/// How often each API was called: what tests and the benchmark count.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub token_calls: u64,
    pub stable_token_calls: u64,
    pub qrcode_create_calls: u64,
    pub custom_send_calls: u64,
    pub user_info_calls: u64,
    pub pushes: u64,
    pub faults_injected: u64,
    pub tags_create_calls: u64,
    pub tags_get_calls: u64,
    pub batchtagging_calls: u64,
    /// Every openid named by a batchtagging call that succeeded.
    pub tagged_openids: Vec<String>,
}

impl Stats {
    fn count(&mut self, api: &str) {
        let counter = match api {
            "token" => &mut self.token_calls,
            "stable_token" => &mut self.stable_token_calls,
            "qrcode_create" => &mut self.qrcode_create_calls,
            "custom_send" => &mut self.custom_send_calls,
            "user_info" => &mut self.user_info_calls,
            "tags_create" => &mut self.tags_create_calls,
            "tags_get" => &mut self.tags_get_calls,
            "batchtagging" => &mut self.batchtagging_calls,
            _ => return,
        };
        *counter += 1;
    }
}

impl Sandbox {
    /// `callback` is the service's `/wechat`, `api_base` the sandbox's own API,
    /// `public_base` where the service's links point.
    pub fn new(wechat: &WechatConfig, callback: Url, api_base: Url, public_base: Url) -> Self {
        let http = reqwest::Client::builder()
            // WeChat gives the callback 5 seconds.
            .timeout(Duration::from_secs(5))
            .build()
            .expect("the TLS backend is compiled in");
        let mut world = World::default();
        for nickname in ["小明", "Alice 🌸"] {
            world.add_user(nickname);
        }
        Sandbox {
            inner: Arc::new(Inner {
                world: Mutex::new(world),
                http,
                home: callback.join("/").expect("constant path"),
                public_base,
                pages: pages::Pages::new(),
                callback,
                api_base,
                app_id: wechat.app_id.clone(),
                app_secret: wechat.app_secret.clone(),
                token: wechat.token.clone(),
                crypto: wechat
                    .aes
                    .as_ref()
                    .map(|k| MessageCrypto::new(k.current.clone(), None, wechat.app_id.clone())),
            }),
        }
    }

    /// Everything under `/sandbox`, including `/sandbox/` itself (a nested `/` only
    /// matches `/sandbox`).
    pub fn router(&self) -> Router<Sandbox> {
        Router::new()
            .nest(
                "/sandbox",
                api::router()
                    .merge(phone::routes::router())
                    .merge(oauth::router()),
            )
            .route("/sandbox/", axum::routing::get(phone::routes::phone_home))
    }

    fn world(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock leaves the data consistent (no multi-step
        // invariants span an await), so a poisoned lock is still usable.
        self.inner.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stats(&self) -> Stats {
        let world = self.world();
        let mut stats = world.stats.clone();
        stats.tagged_openids = world.tagged.clone();
        stats
    }

    pub fn inbox(&self, openid: &str) -> Vec<Received> {
        self.world()
            .inbox
            .iter()
            .filter(|m| m.openid == openid)
            .cloned()
            .collect()
    }

    pub fn users(&self) -> Vec<User> {
        self.world().users.values().cloned().collect()
    }

    /// A new user: not following the account, or already following (then their
    /// first scan of a code is a `SCAN`, as an existing follower's).
    pub fn add_user(&self, nickname: &str, following: bool) -> User {
        let mut world = self.world();
        let mut user = world.add_user(nickname);
        if following {
            user.following = true;
            user.subscribe_time = crate::now_ms() / 1000;
            world.users.insert(user.openid.clone(), user.clone());
        }
        user
    }

    pub fn set_open_recipients(&self, open: bool) {
        self.world().open_recipients = open;
    }
}

impl User {
    /// A follower who scanned a code just now (for open recipients).
    fn just_scanned(openid: &str, now: i64) -> Self {
        User {
            openid: openid.to_owned(),
            nickname: openid.to_owned(),
            following: true,
            subscribe_time: now / 1000,
            window_opened_ms: now,
            window_used: 0,
            tags: Vec::new(),
        }
    }
}

impl World {
    fn add_user(&mut self, nickname: &str) -> User {
        self.next_user += 1;
        // Real openids are 28 characters of base64url; keep the shape.
        let openid = format!("oSandbox{:020}", self.next_user);
        let user = User {
            openid: openid.clone(),
            nickname: nickname.to_owned(),
            following: false,
            subscribe_time: 0,
            window_opened_ms: 0,
            window_used: 0,
            tags: Vec::new(),
        };
        self.users.insert(openid, user.clone());
        user
    }
}
