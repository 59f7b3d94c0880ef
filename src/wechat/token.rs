//! The account's access token: one per account, shared by every caller and instance.
//!
//! Callers ask [`AccessTokens::current`]. The token lives in a moka cache until five
//! minutes before it expires; concurrent misses share one load (moka's `try_get_with`),
//! and a load first reads the database, where another instance may already have put a
//! fresh token. Only if none is there does the loader take a short refresh lease in the
//! database and fetch; the other instances wait for that fetch instead of fetching too,
//! since each fetch costs daily quota and, with `/cgi-bin/token`, invalidates the
//! previous token for everyone else.
//!
//! We fetch with `/cgi-bin/stable_token` (normal mode): it returns the same token while
//! it is valid, so even an instance on an older build cannot invalidate the others.
//! Stand-ins that only know the classic `/cgi-bin/token` (404 for `stable_token`) are
//! served through that instead.
//! <https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html>

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use entity::access_token;
use moka::Expiry;
use moka::future::Cache;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::client::{WechatError, decode, endpoint};
use crate::now_ms;

/// Refresh this long before WeChat's expiry (stable tokens are renewed in the same window).
const REFRESH_MARGIN_MS: i64 = 5 * 60 * 1000;
/// How long one instance may hold the refresh lease before another takes over.
const LEASE_MS: i64 = 15_000;
/// How long a caller waits for another instance's refresh before giving up.
const WAIT_FOR_PEER: Duration = Duration::from_secs(20);

/// A token and when it stops working.
pub struct Token {
    pub value: SecretString,
    pub expires_at_ms: i64,
}

pub struct AccessTokens {
    db: DatabaseConnection,
    http: reqwest::Client,
    api_base: Url,
    app_id: String,
    secret: SecretString,
    cache: Cache<(), Arc<Token>>,
    fetches: AtomicU64,
}

struct UntilRefreshDue;

impl Expiry<(), Arc<Token>> for UntilRefreshDue {
    fn expire_after_create(&self, _: &(), token: &Arc<Token>, _: Instant) -> Option<Duration> {
        let left = token.expires_at_ms - REFRESH_MARGIN_MS - now_ms();
        Some(Duration::from_millis(left.max(0) as u64))
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: i64,
}

fn store_error(e: DbErr) -> WechatError {
    WechatError::Retry {
        errcode: None,
        reason: format!("token store: {e}"),
    }
}

impl AccessTokens {
    pub(crate) fn new(
        db: DatabaseConnection,
        http: reqwest::Client,
        api_base: Url,
        app_id: String,
        secret: SecretString,
    ) -> Self {
        let cache = Cache::builder()
            .max_capacity(1)
            .expire_after(UntilRefreshDue)
            .build();
        AccessTokens {
            db,
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
        if let Some(token) = self.cache.get(&()).await {
            return Ok(token);
        }
        // Boxed: the load (database, lease, HTTP) is a large future, and held inline it
        // would be copied with every send's task however rarely it runs.
        Box::pin(self.cache.try_get_with((), self.load_or_fetch()))
            .await
            .map_err(|e| (*e).clone())
    }

    /// Forgets `failed` after WeChat refused it, unless it was already replaced: of many
    /// callers that saw the same token fail, only the first causes a refresh.
    pub async fn expire_if_current(&self, failed: &Token) {
        let failed_value = failed.value.expose_secret();
        if let Some(cached) = self.cache.get(&()).await
            && cached.value.expose_secret() == failed_value
        {
            self.cache.invalidate(&()).await;
        }
        let expired = access_token::Entity::update_many()
            .col_expr(access_token::Column::ExpiresAtMs, Expr::value(0i64))
            .filter(access_token::Column::AppId.eq(&self.app_id))
            .filter(access_token::Column::Token.eq(failed_value))
            .exec(&self.db)
            .await;
        if let Err(e) = expired {
            tracing::warn!(error = %e, "could not mark the refused access token as expired");
        }
    }

    async fn load_or_fetch(&self) -> Result<Arc<Token>, WechatError> {
        self.ensure_row().await.map_err(store_error)?;
        let give_up = Instant::now() + WAIT_FOR_PEER;
        loop {
            let now = now_ms();
            let row = access_token::Entity::find_by_id(self.app_id.clone())
                .one(&self.db)
                .await
                .map_err(store_error)?;
            if let Some(row) = row
                && !row.token.is_empty()
                && row.expires_at_ms - REFRESH_MARGIN_MS > now
            {
                return Ok(Arc::new(Token {
                    value: row.token.into(),
                    expires_at_ms: row.expires_at_ms,
                }));
            }
            if self.take_lease(now).await.map_err(store_error)? {
                let fetched = self.fetch().await;
                return self.store(fetched).await;
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

    async fn ensure_row(&self) -> Result<(), DbErr> {
        let row = access_token::ActiveModel {
            app_id: Set(self.app_id.clone()),
            token: Set(String::new()),
            expires_at_ms: Set(0),
            refresh_lease_until_ms: Set(0),
        };
        let inserted = access_token::Entity::insert(row)
            .on_conflict(
                OnConflict::column(access_token::Column::AppId)
                    .do_nothing_on([access_token::Column::AppId])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await;
        match inserted {
            Ok(_) | Err(DbErr::RecordNotInserted) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Takes the refresh lease if nobody holds it and no fresh token is stored; the
    /// update is atomic, so of several instances exactly one wins, and none after the
    /// winner has stored its token.
    async fn take_lease(&self, now: i64) -> Result<bool, DbErr> {
        let taken = access_token::Entity::update_many()
            .col_expr(
                access_token::Column::RefreshLeaseUntilMs,
                Expr::value(now + LEASE_MS),
            )
            .filter(access_token::Column::AppId.eq(&self.app_id))
            .filter(access_token::Column::RefreshLeaseUntilMs.lt(now))
            // Only while no fresh token is stored: another instance may have stored one
            // (and released its lease) since we looked, and fetching again would cost
            // quota for nothing.
            .filter(access_token::Column::ExpiresAtMs.lte(now + REFRESH_MARGIN_MS))
            .exec(&self.db)
            .await?;
        Ok(taken.rows_affected == 1)
    }

    /// Saves a fetched token (and releases the lease either way).
    async fn store(
        &self,
        fetched: Result<TokenAnswer, WechatError>,
    ) -> Result<Arc<Token>, WechatError> {
        let mut update = access_token::Entity::update_many()
            .col_expr(access_token::Column::RefreshLeaseUntilMs, Expr::value(0i64))
            .filter(access_token::Column::AppId.eq(&self.app_id));
        let token = match &fetched {
            Ok(answer) => {
                let expires_at_ms = now_ms() + answer.expires_in * 1000;
                update = update
                    .col_expr(
                        access_token::Column::Token,
                        Expr::value(answer.access_token.clone()),
                    )
                    .col_expr(
                        access_token::Column::ExpiresAtMs,
                        Expr::value(expires_at_ms),
                    );
                Some(Token {
                    value: answer.access_token.clone().into(),
                    expires_at_ms,
                })
            }
            Err(_) => None,
        };
        update.exec(&self.db).await.map_err(store_error)?;
        match (token, fetched) {
            (Some(token), _) => Ok(Arc::new(token)),
            (None, Err(e)) => Err(e),
            (None, Ok(_)) => unreachable!("a successful fetch always yields a token"),
        }
    }

    #[tracing::instrument(name = "fetch_access_token", skip(self), fields(app_id = %self.app_id))]
    async fn fetch(&self) -> Result<TokenAnswer, WechatError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let stable = self
            .http
            .post(endpoint(&self.api_base, "/cgi-bin/stable_token"))
            .json(&serde_json::json!({
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self.secret.expose_secret(),
                "force_refresh": false,
            }))
            .send()
            .await;
        let answer = match stable {
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                let classic = self
                    .http
                    .get(endpoint(&self.api_base, "/cgi-bin/token"))
                    .query(&[
                        ("grant_type", "client_credential"),
                        ("appid", self.app_id.as_str()),
                        ("secret", self.secret.expose_secret()),
                    ])
                    .send()
                    .await;
                decode::<TokenAnswer>(classic).await
            }
            other => decode::<TokenAnswer>(other).await,
        };
        // A token error while *fetching* a token means the credentials are wrong.
        let answer = answer.map_err(|e| match e {
            WechatError::RefreshToken { errcode, errmsg } => {
                WechatError::Rejected { errcode, errmsg }
            }
            other => other,
        })?;
        if answer.access_token.is_empty() || answer.expires_in <= 0 {
            return Err(WechatError::Unexpected {
                reason: "token answer without a token or lifetime".into(),
            });
        }
        tracing::info!(expires_in = answer.expires_in, "fetched a new access token");
        Ok(answer)
    }
}
