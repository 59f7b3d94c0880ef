//! The account's access token: one per account, shared by every caller and instance.
//!
//! Callers ask [`AccessTokens::current`]. The token is kept in memory ([`Fresh`]) until
//! five minutes before it expires; concurrent misses share one load, and a load first
//! reads the [`TokenStore`], where another instance may already have put a fresh
//! token. Only if none is there does the loader take the store's short refresh lease
//! and fetch; the other instances wait for that fetch instead of fetching too, since
//! each fetch costs daily quota and, with `/cgi-bin/token`, invalidates the previous
//! token for everyone else.
//!
//! We fetch with `/cgi-bin/stable_token` (normal mode): it returns the same token while
//! it is valid, so even an instance on an older build cannot invalidate the others.
//! Stand-ins that only know the classic `/cgi-bin/token` (404 for `stable_token`) are
//! served through that instead.
//! <https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html>

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::api::{WechatError, decode, endpoint};
use crate::fresh::Fresh;
use crate::now_ms;

/// Refresh this long before WeChat's expiry (stable tokens are renewed in the same window).
pub const REFRESH_MARGIN_MS: i64 = 5 * 60 * 1000;
/// How long one instance may hold the refresh lease before another takes over.
const LEASE_MS: i64 = 15_000;
/// How long a caller waits for another instance's refresh before giving up.
const WAIT_FOR_PEER: Duration = Duration::from_secs(20);

/// A token and when it stops working.
#[derive(Clone)]
pub struct Token {
    pub value: SecretString,
    pub expires_at_ms: i64,
}

/// Why the store could not answer; the caller may try again later.
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// Where the account's token is kept for every instance (the service keeps it in its
/// database). All of it is about one account.
pub trait TokenStore: Send + Sync {
    /// The token stored, if any.
    fn load(&self) -> BoxFuture<'_, Result<Option<Token>, StoreError>>;
    /// Takes the refresh lease until `until_ms` if nobody holds it at `now_ms` and no
    /// token that stays good past `good_until_ms` is stored. Of several instances
    /// asking at once, exactly one gets `true`.
    fn take_refresh_lease(
        &self,
        now_ms: i64,
        until_ms: i64,
        good_until_ms: i64,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// Gives the lease back, storing `fetched` when the fetch gave a token.
    fn release_refresh_lease<'a>(
        &'a self,
        fetched: Option<&'a Token>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Marks `value` expired if it is the token stored (WeChat refused it).
    fn expire<'a>(&'a self, value: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

pub struct AccessTokens {
    store: Arc<dyn TokenStore>,
    http: reqwest::Client,
    api_base: Url,
    app_id: String,
    secret: SecretString,
    cache: Fresh<Arc<Token>, WechatError>,
    fetches: AtomicU64,
}

/// How long a token is kept: until its refresh is due.
fn until_refresh_due(token: &Arc<Token>) -> Duration {
    let left = token.expires_at_ms - REFRESH_MARGIN_MS - now_ms();
    Duration::from_millis(left.max(0) as u64)
}

#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    pub access_token: String,
    pub expires_in: i64,
}

fn store_error(e: StoreError) -> WechatError {
    WechatError::Retry {
        errcode: None,
        reason: format!("token store: {e}"),
    }
}

impl AccessTokens {
    pub(crate) fn new(
        store: Arc<dyn TokenStore>,
        http: reqwest::Client,
        api_base: Url,
        app_id: String,
        secret: SecretString,
    ) -> Self {
        let cache = Fresh::new(until_refresh_due);
        AccessTokens {
            store,
            http,
            api_base,
            app_id,
            secret,
            cache,
            fetches: AtomicU64::new(0),
        }
    }

    /// How many times this process fetched a token from WeChat.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A token with at least a few minutes to live.
    pub async fn current(&self) -> Result<Arc<Token>, WechatError> {
        self.cache.get_or_load(|| self.load_or_fetch()).await
    }

    /// Forgets `failed` after WeChat refused it, unless it was already replaced: of many
    /// callers that saw the same token fail, only the first causes a refresh.
    pub async fn expire_if_current(&self, failed: &Token) {
        let failed_value = failed.value.expose_secret();
        self.cache
            .forget_if(|kept| kept.value.expose_secret() == failed_value);
        if let Err(e) = self.store.expire(failed_value).await {
            tracing::warn!(error = %e, "could not mark the refused access token as expired");
        }
    }

    async fn load_or_fetch(&self) -> Result<Arc<Token>, WechatError> {
        let give_up = Instant::now() + WAIT_FOR_PEER;
        loop {
            let now = now_ms();
            if let Some(token) = self.store.load().await.map_err(store_error)?
                && token.expires_at_ms - REFRESH_MARGIN_MS > now
            {
                return Ok(Arc::new(token));
            }
            let leased = self
                .store
                .take_refresh_lease(now, now + LEASE_MS, now + REFRESH_MARGIN_MS)
                .await
                .map_err(store_error)?;
            if leased {
                let fetched = self.fetch().await.map(|answer| Token {
                    value: answer.access_token.into(),
                    expires_at_ms: now_ms() + answer.expires_in * 1000,
                });
                self.store
                    .release_refresh_lease(fetched.as_ref().ok())
                    .await
                    .map_err(store_error)?;
                return fetched.map(Arc::new);
            }
            if Instant::now() > give_up {
                return Err(WechatError::Retry {
                    errcode: None,
                    reason: "timed out waiting for another instance to refresh the access token"
                        .into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[tracing::instrument(name = "fetch_access_token", skip(self), fields(app_id = %self.app_id))]
    async fn fetch(&self) -> Result<TokenAnswer, WechatError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let answer = request_token(&self.http, &self.api_base, &self.app_id, &self.secret)
            .await
            .answer?;
        tracing::info!(expires_in = answer.expires_in, "fetched a new access token");
        Ok(answer)
    }
}

/// One token request as WeChat answered it, with the time WeChat's `Date` header gave.
pub(crate) struct TokenReply {
    pub answer: Result<TokenAnswer, WechatError>,
    /// WeChat's clock at the answer (milliseconds, whole seconds), when it sent one.
    pub server_time_ms: Option<i64>,
}

/// Asks WeChat for the account's token once (`stable_token`, or the classic `token`
/// where a stand-in knows only that). Nothing is cached or stored here.
pub(crate) async fn request_token(
    http: &reqwest::Client,
    api_base: &Url,
    app_id: &str,
    secret: &SecretString,
) -> TokenReply {
    let stable = http
        .post(endpoint(api_base, "/cgi-bin/stable_token"))
        .json(&serde_json::json!({
            "grant_type": "client_credential",
            "appid": app_id,
            "secret": secret.expose_secret(),
            "force_refresh": false,
        }))
        .send()
        .await;
    let reply = match stable {
        Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
            http.get(endpoint(api_base, "/cgi-bin/token"))
                .query(&[
                    ("grant_type", "client_credential"),
                    ("appid", app_id),
                    ("secret", secret.expose_secret()),
                ])
                .send()
                .await
        }
        other => other,
    };
    let server_time_ms = reply.as_ref().ok().and_then(|r| {
        let date = r.headers().get(reqwest::header::DATE)?.to_str().ok()?;
        Some(
            chrono::DateTime::parse_from_rfc2822(date)
                .ok()?
                .timestamp_millis(),
        )
    });
    // A token error while *fetching* a token means the credentials are wrong.
    let answer = decode::<TokenAnswer>(reply).await.map_err(|e| match e {
        WechatError::RefreshToken { errcode, errmsg } => WechatError::Rejected { errcode, errmsg },
        other => other,
    });
    let answer = answer.and_then(|a| {
        if a.access_token.is_empty() || a.expires_in <= 0 {
            Err(WechatError::Unexpected {
                reason: "token answer without a token or lifetime".into(),
            })
        } else {
            Ok(a)
        }
    });
    TokenReply {
        answer,
        server_time_ms,
    }
}
