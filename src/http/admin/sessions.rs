//! Console sessions, kept in the database: the cookie names a session (with an HMAC
//! under the admin token's hash, so changing the token ends every session), and a
//! logout ends it on every instance at once, not when the cookie would expire.

use entity::admin_session;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};

use crate::now_ms;

/// How long a session lasts without a logout.
pub const SESSION_MS: i64 = 12 * 60 * 60 * 1000;

#[derive(Clone)]
pub struct Sessions {
    db: DatabaseConnection,
}

impl Sessions {
    pub fn new(db: DatabaseConnection) -> Self {
        Sessions { db }
    }

    /// A new session: its id and when it ends.
    pub async fn open(&self) -> Result<(String, i64), DbErr> {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let expires_at_ms = now_ms() + SESSION_MS;
        admin_session::ActiveModel {
            id: Set(id.clone()),
            expires_at_ms: Set(expires_at_ms),
            revoked_at_ms: Set(None),
        }
        .insert(&self.db)
        .await?;
        Ok((id, expires_at_ms))
    }

    /// Whether the session is open: made here, not ended, not expired.
    pub async fn is_open(&self, id: &str) -> Result<bool, DbErr> {
        let found = admin_session::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?;
        Ok(found.is_some_and(|s| s.revoked_at_ms.is_none() && s.expires_at_ms > now_ms()))
    }

    /// Ends a session.
    pub async fn end(&self, id: &str) -> Result<(), DbErr> {
        admin_session::Entity::update_many()
            .col_expr(admin_session::Column::RevokedAtMs, Expr::value(now_ms()))
            .filter(admin_session::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map(|_| ())
    }

    /// Ends every session (the admin token was reset).
    pub async fn end_all(&self) -> Result<u64, DbErr> {
        let done = admin_session::Entity::update_many()
            .col_expr(admin_session::Column::RevokedAtMs, Expr::value(now_ms()))
            .filter(admin_session::Column::RevokedAtMs.is_null())
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected)
    }
}
