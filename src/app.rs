//! The service put together: [`App::build`] connects and migrates the database, binds
//! the port and wires the platform client, the domain and the web side; then
//! [`App::run_until_stopped`] serves until told to stop and drains. `main` and the
//! tests start the service the same way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::FromRef;
use tokio::net::TcpListener;
use tokio::sync::watch;
use url::Url;

use crate::config::Config;
use crate::db::token_store::DbTokenStore;
use crate::http::admin::auth::{AdminKey, Gate};
use crate::http::admin::sessions::Sessions;
use crate::http::limit::AuthFailures;
use crate::http::limit::Limiter;
use crate::http::web::{Web, WebParts};
use crate::metrics::Metrics;
use crate::quote::outbox::{self, Outbox};
use crate::quote::{self, Domain, Parts};
use crate::sandbox::Sandbox;
use crate::{db, http, wechat};

/// What the handlers are given: the domain, and what only the web side needs (page
/// templates, the admin key, the rate limiter, the callback's keys). Handlers take the
/// part they use (`State<Domain>`, `State<Web>`) through [`FromRef`], or the whole.
#[derive(Clone)]
pub struct AppState {
    pub domain: Domain,
    pub web: Web,
    /// The built-in WeChat stand-in, in sandbox mode only.
    pub sandbox: Option<Sandbox>,
}

impl FromRef<AppState> for Domain {
    fn from_ref(state: &AppState) -> Domain {
        state.domain.clone()
    }
}

impl FromRef<AppState> for Web {
    fn from_ref(state: &AppState) -> Web {
        state.web.clone()
    }
}

/// For the [`Admin`](crate::http::admin::auth::Admin) extractor.
impl FromRef<AppState> for Gate {
    fn from_ref(state: &AppState) -> Gate {
        state.web.admin.clone()
    }
}

/// For the [`Throttle`](crate::http::limit::Throttle) extractor.
impl FromRef<AppState> for Option<Limiter> {
    fn from_ref(state: &AppState) -> Option<Limiter> {
        state.web.limiter.clone()
    }
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
        let db = db::connect_with(&config.database_url, config.sqlite_synchronous).await?;
        db::migrate(&db).await?;
        let writer =
            db::connect_writer(&config.database_url, &db, config.sqlite_synchronous).await?;

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
        if config.wechat.allow_plaintext {
            tracing::warn!(
                "WECHAT_ALLOW_PLAINTEXT is set: plaintext pushes are accepted although an \
                 AES key is configured; anyone who saw one push's query can forge pushes. \
                 Turn it off as soon as the platform's message mode is switched."
            );
        }
        let sandbox = config.wechat.sandbox.then(|| {
            Sandbox::new(
                &config.wechat,
                reachable.join("wechat").expect("constant path"),
                api_base.clone(),
                base_url.clone(),
            )
        });

        let metrics = Arc::new(Metrics::default());
        let wechat = wechat::WechatClient::new(
            api_base,
            config.wechat.app_id.clone(),
            config.wechat.app_secret.clone(),
            Arc::new(DbTokenStore::new(db.clone(), config.wechat.app_id.clone())),
            metrics.clone(),
        );
        let links =
            quote::links::LinkSigner::load_or_create(&db, config.link_secret.as_ref()).await?;
        let instance_id = format!("{:08x}", rand::random::<u32>());
        let handoff = Arc::new(outbox::handoff::Channel::new());
        let journal = outbox::journal::Journal::spawn(
            writer,
            db.clone(),
            metrics.clone(),
            handoff.clone(),
            instance_id.clone(),
            config.delivery_guarantee,
        )?;
        let registry = quote::codes::registry::Registry::new(db.clone());
        let domain = Domain::new(Parts {
            orders: quote::orders::Orders::new(db.clone()),
            schemas: quote::orders::schema::Schemas::new(db.clone()),
            site_keys: quote::site_keys::SiteKeys::new(db.clone()),
            webhooks: quote::webhooks::Webhooks::new(db.clone()),
            tickets: quote::codes::tickets::Tickets::new(
                db.clone(),
                wechat.clone(),
                registry.clone(),
            ),
            registry,
            cards: quote::card::Cards::new(db.clone()),
            profiles: quote::profiles::Profiles::new(db.clone(), wechat.clone()),
            delivery_mode: quote::settings::DeliveryModes::new(db.clone()),
            shop: quote::shop::Shops::new(db.clone()),
            outbox: Outbox {
                journal,
                handoff,
                worker_beat: Default::default(),
            },
            guarantee: config.delivery_guarantee,
            db: db.clone(),
            wechat,
            links,
            base_url,
            oauth_base,
            instance_id,
            metrics,
        });
        domain.cards.ensure_default().await?;
        if config.demo_shop {
            domain.shop.ensure_demo().await?;
        }

        let (admin, generated_admin_token) =
            AdminKey::load_or_create(&db, config.admin_token.as_ref()).await?;
        if config.admin_token.is_none() {
            admin.follow(db.clone());
        }
        let web = Web::new(WebParts {
            crypto: config.wechat.aes.as_ref().map(|keys| {
                wechat::crypto::MessageCrypto::new(
                    keys.current.clone(),
                    keys.previous.clone(),
                    config.wechat.app_id.clone(),
                )
            }),
            limiter: Limiter::new(config.rate_limit_per_minute, config.trust_forwarded_for),
            pages: http::pages::Pages::new(),
            admin: Gate {
                key: admin,
                sessions: Sessions::new(db.clone()),
                failures: Arc::new(AuthFailures::new(config.trust_forwarded_for)),
            },
            config: Arc::new(config),
        });
        Ok(App {
            listener,
            state: AppState {
                domain,
                web,
                sandbox,
            },
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
        let worker = outbox::worker::spawn(self.state.domain.clone(), worker_stop_rx.clone());
        let sweeper = quote::sweeper::spawn(
            self.state.domain.db.clone(),
            self.state.web.config.timestamp_window_secs,
            worker_stop_rx,
        );
        let journal = self.state.domain.outbox.journal.clone();
        let router = http::router(self.state.clone());
        let limits = http::serve::Limits::for_this_process(self.state.web.config.max_connections);
        let server = tokio::spawn(http::serve::serve(self.listener, router, limits, stop_rx));
        shutdown.await;
        tracing::info!("stopping: no new connections; finishing in-flight work");
        let _ = stop_tx.send(true);
        // The server first: its last pushes may hand messages to the worker, which
        // then sends them before it stops. Then the journal: the server no longer waits
        // for a push whose sender hung up, whose scan may still be on its way.
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            let served = server.await;
            journal.flush().await;
            let _ = worker_stop_tx.send(true);
            let _ = worker.await;
            let _ = sweeper.await;
            served
        })
        .await;
        match drained {
            Ok(Ok(())) => Ok(()),
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
