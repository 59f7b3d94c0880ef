//! Permanent codes, of any kind: WeChat allows an account 100,000 of them, ever, so
//! each is made once, counted before it is asked for, and registered at once.

use entity::qr_code;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter};

use super::CodeKind;
use super::registry::NewCode;
use crate::AppError;
use crate::quote::Domain;
use crate::wechat::{Lifetime, Scene};

/// WeChat's lifetime limit on permanent codes per account.
pub const PERMANENT_CODE_LIMIT: u64 = 100_000;

/// Permanent codes this service created (of every kind).
pub async fn used(db: &DatabaseConnection) -> Result<u64, DbErr> {
    qr_code::Entity::find()
        .filter(qr_code::Column::ExpiresAtMs.is_null())
        .count(db)
        .await
}

/// How many permanent codes the account has left.
pub async fn remaining(db: &DatabaseConnection) -> Result<u64, DbErr> {
    Ok(PERMANENT_CODE_LIMIT.saturating_sub(used(db).await?))
}

/// Asks WeChat for a permanent code carrying `scene` and registers it as `kind`
/// pointing at `target`. Refused before any call once the account's codes are used up.
pub async fn create(
    domain: &Domain,
    kind: CodeKind,
    scene: &Scene,
    target: &str,
) -> Result<qr_code::Model, AppError> {
    if used(&domain.db).await? >= PERMANENT_CODE_LIMIT {
        return Err(AppError::Conflict(
            "本公众号的 100,000 个永久二维码已全部用完".into(),
        ));
    }
    let created = domain
        .wechat
        .create_qrcode(scene, Lifetime::Permanent)
        .await?;
    domain
        .registry
        .register(NewCode {
            created: &created,
            kind,
            scene: scene.to_string(),
            target: target.to_owned(),
            expires_at_ms: None,
        })
        .await
}
