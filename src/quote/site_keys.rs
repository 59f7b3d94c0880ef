//! Site keys: what a shop's server creates orders with. A key is `sk_` and 32 random
//! bytes (base64url), shown once when it is made; only its SHA-256 is kept. Every
//! request is checked against the database, so a revoked key is refused at once on
//! every instance.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::site_key;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{AppError, now_ms};

const PREFIX: &str = "sk_";
/// A key's last use is written at most this often (it is a hint for the owner, not a
/// log), so a busy shop does not cost a write per order.
const LAST_USED_EVERY_MS: i64 = 60_000;

/// A key as the console lists it: never the key itself.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SiteKeyView {
    pub id: i64,
    pub name: String,
    pub created_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
}

/// A key just made: the only time it is shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewSiteKey {
    pub id: i64,
    pub name: String,
    /// `sk_…`: keep it on the shop's server; it is not shown again.
    pub key: String,
}

/// Why a request's key was refused (said to the shop's developer, in Chinese).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.reason())]
pub enum KeyRefused {
    Missing,
    Wrong,
}

impl KeyRefused {
    pub fn reason(self) -> &'static str {
        match self {
            KeyRefused::Missing => "需要网站密钥：请求头 Authorization: Bearer sk_…",
            KeyRefused::Wrong => "网站密钥不正确或已撤销",
        }
    }
}

fn sha256(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub struct SiteKeys {
    db: DatabaseConnection,
    /// When this process last wrote each key's last use.
    last_written: Mutex<HashMap<i64, i64>>,
}

impl SiteKeys {
    pub fn new(db: DatabaseConnection) -> Self {
        SiteKeys {
            db,
            last_written: Mutex::new(HashMap::new()),
        }
    }

    /// Makes a key named `name` (1–64 characters).
    pub async fn create(&self, name: &str) -> Result<NewSiteKey, AppError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(AppError::bad_field("name", "名称须为 1 到 64 个字符"));
        }
        let key = format!(
            "{PREFIX}{}",
            URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
        );
        let stored = site_key::ActiveModel {
            name: Set(name.to_owned()),
            key_sha256: Set(sha256(&key)),
            created_at_ms: Set(now_ms()),
            last_used_at_ms: Set(None),
            revoked_at_ms: Set(None),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        Ok(NewSiteKey {
            id: stored.id,
            name: stored.name,
            key,
        })
    }

    /// The keys in force, oldest first.
    pub async fn list(&self) -> Result<Vec<SiteKeyView>, AppError> {
        let rows = site_key::Entity::find()
            .filter(site_key::Column::RevokedAtMs.is_null())
            .order_by_asc(site_key::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|k| SiteKeyView {
                id: k.id,
                name: k.name,
                created_at_ms: k.created_at_ms,
                last_used_at_ms: k.last_used_at_ms,
            })
            .collect())
    }

    /// Revokes a key; not found when there is no such key in force.
    pub async fn revoke(&self, id: i64) -> Result<(), AppError> {
        let done = site_key::Entity::update_many()
            .col_expr(site_key::Column::RevokedAtMs, Expr::value(now_ms()))
            .filter(site_key::Column::Id.eq(id))
            .filter(site_key::Column::RevokedAtMs.is_null())
            .exec(&self.db)
            .await?;
        if done.rows_affected == 0 {
            return Err(AppError::NotFound);
        }
        Ok(())
    }

    /// The id of the key a request carries, if it is one in force.
    pub async fn check(&self, sent: Option<&str>) -> Result<Result<i64, KeyRefused>, AppError> {
        let Some(key) = sent.map(str::trim).filter(|k| !k.is_empty()) else {
            return Ok(Err(KeyRefused::Missing));
        };
        if !key.starts_with(PREFIX) || key.len() > 128 {
            return Ok(Err(KeyRefused::Wrong));
        }
        let found = site_key::Entity::find()
            .filter(site_key::Column::KeySha256.eq(sha256(key)))
            .filter(site_key::Column::RevokedAtMs.is_null())
            .one(&self.db)
            .await?;
        let Some(found) = found else {
            return Ok(Err(KeyRefused::Wrong));
        };
        self.note_use(found.id).await;
        Ok(Ok(found.id))
    }

    async fn note_use(&self, id: i64) {
        let now = now_ms();
        {
            let mut written = self.last_written.lock().unwrap_or_else(|p| p.into_inner());
            match written.get(&id) {
                Some(at) if now - at < LAST_USED_EVERY_MS => return,
                _ => written.insert(id, now),
            };
        }
        let noted = site_key::Entity::update_many()
            .col_expr(site_key::Column::LastUsedAtMs, Expr::value(now))
            .filter(site_key::Column::Id.eq(id))
            .exec(&self.db)
            .await;
        if let Err(e) = noted {
            tracing::warn!(error = %e, "could not note a site key's last use");
        }
    }
}
