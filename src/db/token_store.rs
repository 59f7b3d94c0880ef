//! The account's access token, kept in `access_tokens` for every instance, with the
//! refresh lease that lets exactly one of them fetch a new one (see `wechat::token`).

use entity::access_token;
use futures_util::future::BoxFuture;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};
use secrecy::ExposeSecret;

use crate::wechat::token::{StoreError, Token, TokenStore};

/// The token row of one account.
pub struct DbTokenStore {
    db: DatabaseConnection,
    app_id: String,
}

impl DbTokenStore {
    pub fn new(db: DatabaseConnection, app_id: String) -> Self {
        DbTokenStore { db, app_id }
    }

    /// The account's row, made empty if it is not there yet (every instance may ask).
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

    fn this_account(&self) -> sea_orm::UpdateMany<access_token::Entity> {
        access_token::Entity::update_many().filter(access_token::Column::AppId.eq(&self.app_id))
    }
}

impl TokenStore for DbTokenStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Token>, StoreError>> {
        Box::pin(async move {
            let row = access_token::Entity::find_by_id(self.app_id.clone())
                .one(&self.db)
                .await?;
            Ok(row.filter(|r| !r.token.is_empty()).map(|r| Token {
                value: r.token.into(),
                expires_at_ms: r.expires_at_ms,
            }))
        })
    }

    fn take_refresh_lease(
        &self,
        now_ms: i64,
        until_ms: i64,
        good_until_ms: i64,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            self.ensure_row().await?;
            // Atomic, so of several instances exactly one wins; and only while no fresh
            // token is stored: another instance may have stored one (and released its
            // lease) since the caller looked, and fetching again would cost quota.
            let taken = self
                .this_account()
                .col_expr(
                    access_token::Column::RefreshLeaseUntilMs,
                    Expr::value(until_ms),
                )
                .filter(access_token::Column::RefreshLeaseUntilMs.lt(now_ms))
                .filter(access_token::Column::ExpiresAtMs.lte(good_until_ms))
                .exec(&self.db)
                .await?;
            Ok(taken.rows_affected == 1)
        })
    }

    fn release_refresh_lease<'a>(
        &'a self,
        fetched: Option<&'a Token>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut update = self
                .this_account()
                .col_expr(access_token::Column::RefreshLeaseUntilMs, Expr::value(0i64));
            if let Some(token) = fetched {
                update = update
                    .col_expr(
                        access_token::Column::Token,
                        Expr::value(token.value.expose_secret().to_owned()),
                    )
                    .col_expr(
                        access_token::Column::ExpiresAtMs,
                        Expr::value(token.expires_at_ms),
                    );
            }
            update.exec(&self.db).await?;
            Ok(())
        })
    }

    fn expire<'a>(&'a self, value: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.this_account()
                .col_expr(access_token::Column::ExpiresAtMs, Expr::value(0i64))
                .filter(access_token::Column::Token.eq(value))
                .exec(&self.db)
                .await?;
            Ok(())
        })
    }
}
