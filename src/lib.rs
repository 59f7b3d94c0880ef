//! scanquote: a shopper keeps a price quote by scanning a WeChat QR code.
//!
//! Layout: [`wechat`] speaks the platform and knows nothing of orders; [`quote`] is the
//! domain (orders, their QR tickets, scans, the outbox and its worker, message templates,
//! signed links); [`http`] holds thin handlers that parse, call the domain and render;
//! [`sandbox`] stands in for WeChat when no credentials are configured. [`App`] wires them
//! together so `main` and the tests start the service the same way.

pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod promoters;
pub mod quote;
pub mod replies;
pub mod sandbox;
pub mod wechat;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use url::Url;

pub use config::Config;
pub use error::AppError;

/// Milliseconds since the Unix epoch, the unit of every stored time.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Everything a handler or the worker needs. Cloned for every request, so it is one
/// reference-counted pointer: cloning the fields one by one (pools, caches, Arcs) cost
/// a few percent of the callback's CPU under load.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] points to.
pub struct Shared {
    pub db: DatabaseConnection,
    /// Where the hot writes go (see [`db::connect_writer`]).
    pub writer: DatabaseConnection,
    pub config: Arc<Config>,
    /// Where links in messages point: `PUBLIC_BASE_URL`, or the bound address.
    pub base_url: Url,
    /// Where web authorization starts: WeChat's, or the sandbox's.
    pub oauth_base: Url,
    pub wechat: wechat::WechatClient,
    /// Set in AES mode: decrypts pushes and seals passive replies.
    pub crypto: Option<wechat::crypto::MessageCrypto>,
    pub links: quote::links::LinkSigner,
    /// Checks the site owner's token and sessions.
    pub admin: http::admin::auth::AdminKey,
    /// Per-IP limit on the endpoints that cost WeChat quota; `None` when turned off.
    pub limiter: Option<http::limit::Limiter>,
    /// Identifies this process in claims, so a claim can be traced to its instance.
    pub instance_id: String,
    /// Writes scans and send outcomes in group-committed transactions.
    pub journal: quote::journal::Journal,
    /// Woken whenever a message is enqueued, so the worker sends it at once.
    pub outbox: Arc<Notify>,
    /// The worker's send slots, and messages handed to it claimed by the journal.
    pub handoff: Arc<quote::handoff::Channel>,
    pub tickets: quote::tickets::TicketCache,
    /// Registered QR codes by ticket, read on every scan push.
    pub codes: quote::registry::RegistryCache,
    pub profiles: quote::profiles::ProfileCache,
    /// Orders never change once made: the scan and send paths read them from here.
    pub orders: quote::orders::OrderCache,
    /// The template in force, for a second at most (this instance drops it on a save).
    /// The template in force (none stored yet: `None`), for a second.
    pub template: moka::future::Cache<(), Option<Arc<quote::template::Compiled>>>,
    pub delivery_mode: quote::mode::ModeCache,
    pub pages: http::pages::Pages,
    pub metrics: Arc<metrics::Metrics>,
    /// The built-in WeChat stand-in, in sandbox mode only.
    pub sandbox: Option<sandbox::Sandbox>,
}

/// A built service: database migrated, port bound, not yet serving.
pub struct App {
    listener: TcpListener,
    state: AppState,
    /// The admin token generated on this start, if `ADMIN_TOKEN` was unset and none was
    /// generated before: shown once, never stored in clear.
    generated_admin_token: Option<secrecy::SecretString>,
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let db = db::connect(&config.database_url).await?;
        db::migrate(&db).await?;
        let writer = db::connect_writer(&config.database_url, &db).await?;

        let listener = TcpListener::bind(config.bind_addr)
            .await
            .with_context(|| format!("BIND_ADDR: cannot listen on {}", config.bind_addr))?;
        let bound = listener.local_addr()?;
        let reachable = reachable_url(bound);
        let base_url = config
            .public_base_url
            .clone()
            .unwrap_or_else(|| reachable.clone());

        let api_base = match &config.wechat.api_base {
            Some(base) => base.clone(),
            None => reachable.join("sandbox")?,
        };
        let oauth_base = match (&config.wechat.oauth_base, config.wechat.sandbox) {
            (Some(base), _) => base.clone(),
            (None, true) => reachable.join("sandbox")?,
            (None, false) => Url::parse("https://open.weixin.qq.com").expect("constant URL"),
        };
        let sandbox = config.wechat.sandbox.then(|| {
            sandbox::Sandbox::new(
                &config.wechat,
                reachable.join("wechat").expect("constant path"),
                api_base.clone(),
            )
        });
        let wechat = wechat::WechatClient::new(
            db.clone(),
            api_base,
            config.wechat.app_id.clone(),
            config.wechat.app_secret.clone(),
        );
        let links =
            quote::links::LinkSigner::load_or_create(&db, config.link_secret.as_ref()).await?;
        quote::template::ensure_default(&db).await?;
        let (admin, generated_admin_token) =
            http::admin::auth::AdminKey::load_or_create(&db, config.admin_token.as_ref()).await?;

        if config.wechat.allow_plaintext {
            tracing::warn!(
                "WECHAT_ALLOW_PLAINTEXT is set: plaintext pushes are accepted although an \
                 AES key is configured; anyone who saw one push's query can forge pushes. \
                 Turn it off as soon as the platform's message mode is switched."
            );
        }
        let crypto = config.wechat.aes.as_ref().map(|keys| {
            wechat::crypto::MessageCrypto::new(
                keys.current.clone(),
                keys.previous.clone(),
                config.wechat.app_id.clone(),
            )
        });
        let limiter =
            http::limit::Limiter::new(config.rate_limit_per_minute, config.trust_forwarded_for);
        let metrics = Arc::new(metrics::Metrics::default());
        let outbox = Arc::new(Notify::new());
        let handoff = Arc::new(quote::handoff::Channel::new(outbox.clone()));
        let instance_id = format!("{:08x}", rand::random::<u32>());
        let state = AppState(Arc::new(Shared {
            journal: quote::journal::Journal::spawn(
                writer.clone(),
                metrics.clone(),
                handoff.clone(),
                instance_id.clone(),
            ),
            handoff,
            writer,
            db,
            crypto,
            config: Arc::new(config),
            base_url,
            oauth_base,
            wechat,
            links,
            admin,
            limiter,
            instance_id,
            outbox,
            tickets: quote::tickets::new_cache(),
            profiles: quote::profiles::new_cache(),
            codes: quote::registry::new_cache(),
            orders: quote::orders::new_cache(),
            template: moka::future::Cache::builder()
                .time_to_live(std::time::Duration::from_secs(1))
                .build(),
            delivery_mode: quote::mode::new_cache(),
            pages: http::pages::Pages::new(),
            metrics,
            sandbox,
        }));
        Ok(App {
            listener,
            state,
            generated_admin_token,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn take_generated_admin_token(&mut self) -> Option<secrecy::SecretString> {
        self.generated_admin_token.take()
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests
    /// and sends finish for at most [`SHUTDOWN_GRACE`], and returns. Work still in
    /// flight after that is not lost: its message stays claimed, and another instance
    /// (or this one after a restart) takes it over when the claim runs out.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (worker_stop_tx, worker_stop_rx) = watch::channel(false);
        let worker = quote::delivery::spawn_worker(self.state.clone(), worker_stop_rx);
        let router = http::router(self.state.clone());
        let mut server_stop = stop_rx.clone();
        let server = tokio::spawn(
            axum::serve(
                self.listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|stop| *stop).await;
            })
            .into_future(),
        );
        shutdown.await;
        tracing::info!("stopping: no new connections; finishing in-flight work");
        let _ = stop_tx.send(true);
        // The server first: its last pushes may hand messages to the worker, which
        // then sends them before it stops.
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            let served = server.await;
            let _ = worker_stop_tx.send(true);
            let _ = worker.await;
            served
        })
        .await;
        match drained {
            Ok(Ok(result)) => Ok(result?),
            Ok(Err(join)) => Err(anyhow::anyhow!("the server task failed: {join}")),
            Err(_) => {
                tracing::warn!(
                    "in-flight work outlived the shutdown grace; it will be taken over later"
                );
                Ok(())
            }
        }
    }
}

/// How long a stopping instance waits for in-flight requests and sends.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

/// An address a browser on this machine can reach the bound socket at.
fn reachable_url(bound: SocketAddr) -> Url {
    let host = match bound.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    Url::parse(&format!("http://{host}:{}/", bound.port())).expect("a socket address makes a URL")
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
