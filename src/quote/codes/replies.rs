//! Scene-keyed automatic replies: a site owner maps a scene key to a text (a riddle's
//! answer, a coupon code); the service creates a permanent QR code carrying that key,
//! and a scan of it is answered with the text as a passive reply in the callback's
//! response (no API call, no customer-service quota).

use entity::{qr_code, scene_reply};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use serde::Serialize;

use super::{CodeKind, permanent};
use crate::quote::Domain;
use crate::wechat::Scene;
use crate::{AppError, now_ms};
/// WeChat shows at most 2048 bytes of a text reply.
const MAX_TEXT_BYTES: usize = 2048;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SceneReplyView {
    pub scene: String,
    pub text: String,
    pub ticket: Option<String>,
    /// What the permanent code encodes.
    pub url: Option<String>,
}

/// Checks a scene key: 1–64 letters, digits, `_` or `-` (no leading zero-only digits,
/// which would read as a scene id).
pub fn check_scene(scene: &str) -> Result<(), AppError> {
    if scene.is_empty()
        || scene.len() > 64
        || !scene
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(AppError::bad_field(
            "scene",
            "场景值须为 1 到 64 个字母、数字、_ 或 -",
        ));
    }
    if scene.chars().all(|c| c.is_ascii_digit()) {
        return Err(AppError::bad_field(
            "scene",
            "场景值不能全是数字（纯数字是订单编号）",
        ));
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), AppError> {
    if text.trim().is_empty() {
        return Err(AppError::bad_field("text", "回复内容不能为空"));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(AppError::bad_field("text", "回复内容最多 2048 字节"));
    }
    Ok(())
}

/// Creates or updates the reply for `scene`. A new reply gets a permanent code from
/// WeChat (one of the account's 100,000, for ever), so updates keep the code.
pub async fn save_reply(
    domain: &Domain,
    scene: &str,
    text: &str,
) -> Result<SceneReplyView, AppError> {
    check_scene(scene)?;
    check_text(text)?;
    let now = now_ms();
    if let Some(existing) = scene_reply::Entity::find()
        .filter(scene_reply::Column::Scene.eq(scene))
        .one(&domain.db)
        .await?
    {
        let mut row: scene_reply::ActiveModel = existing.into();
        row.text = Set(text.to_owned());
        row.updated_at_ms = Set(now);
        row.update(&domain.db).await?;
        return find_reply(&domain.db, scene)
            .await?
            .ok_or(AppError::NotFound);
    }
    let code = permanent::create(
        domain,
        CodeKind::Reply,
        &Scene::Str(scene.to_owned()),
        scene,
    )
    .await?;
    scene_reply::ActiveModel {
        scene: Set(scene.to_owned()),
        text: Set(text.to_owned()),
        qr_code_id: Set(Some(code.id)),
        created_at_ms: Set(now),
        updated_at_ms: Set(now),
        ..Default::default()
    }
    .insert(&domain.db)
    .await?;
    find_reply(&domain.db, scene)
        .await?
        .ok_or(AppError::NotFound)
}

async fn view(db: &DatabaseConnection, reply: scene_reply::Model) -> Result<SceneReplyView, DbErr> {
    let code = match reply.qr_code_id {
        Some(id) => qr_code::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    Ok(SceneReplyView {
        scene: reply.scene,
        text: reply.text,
        ticket: code.as_ref().map(|c| c.ticket.clone()),
        url: code.map(|c| c.url),
    })
}

pub async fn find_reply(
    db: &DatabaseConnection,
    scene: &str,
) -> Result<Option<SceneReplyView>, DbErr> {
    match scene_reply::Entity::find()
        .filter(scene_reply::Column::Scene.eq(scene))
        .one(db)
        .await?
    {
        Some(reply) => Ok(Some(view(db, reply).await?)),
        None => Ok(None),
    }
}

pub async fn list_replies(db: &DatabaseConnection) -> Result<Vec<SceneReplyView>, DbErr> {
    let mut out = Vec::new();
    for reply in scene_reply::Entity::find()
        .order_by_asc(scene_reply::Column::Scene)
        .all(db)
        .await?
    {
        out.push(view(db, reply).await?);
    }
    Ok(out)
}

/// The reply text for a scanned scene, if one is configured.
pub async fn reply_text(db: &DatabaseConnection, scene: &str) -> Result<Option<String>, DbErr> {
    Ok(scene_reply::Entity::find()
        .filter(scene_reply::Column::Scene.eq(scene))
        .one(db)
        .await?
        .map(|r| r.text))
}
