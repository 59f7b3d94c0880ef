//! Tagging a scanner: WeChat knows a tag by its id, the owner by its name. The id is
//! asked for once per name (`tags/create`; when the account has the name already,
//! WeChat answers 45157 and the id is read from `tags/get`) and remembered in
//! `wechat_tags`; then `tags/members/batchtagging` puts it on the scanner. It runs as a
//! delivery of its own in the outbox, so a tag that fails is retried and never holds
//! up the reply.

use entity::wechat_tag;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};

use crate::db::errors::is_duplicate;
use crate::quote::Domain;
use crate::wechat::WechatError;
use crate::wechat::tags::TAG_EXISTS;

/// A tag delivery's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tagging {
    pub tag: String,
}

/// Why a tag was not put on: WeChat's answer, or the database (worth a retry).
#[derive(Debug)]
pub enum TagFailure {
    Wechat(WechatError),
    Db(sea_orm::DbErr),
}

impl From<WechatError> for TagFailure {
    fn from(e: WechatError) -> Self {
        TagFailure::Wechat(e)
    }
}

impl From<sea_orm::DbErr> for TagFailure {
    fn from(e: sea_orm::DbErr) -> Self {
        TagFailure::Db(e)
    }
}

/// A name not yet remembered is looked up one at a time in this process, so that the
/// tag deliveries of a new name's first scans, sent side by side, make one
/// `tags/create` and not one each. Misses happen once per name; the wait is nothing.
/// (Another instance may still create it at the same moment: it then gets 45157 and
/// reads the id, below.)
static MISSES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn remembered(domain: &Domain, name: &str) -> Result<Option<i64>, sea_orm::DbErr> {
    Ok(wechat_tag::Entity::find_by_id(name.to_owned())
        .one(&domain.db)
        .await?
        .map(|known| known.tag_id))
}

/// The tag's id, made at WeChat the first time the name is used.
async fn tag_id(domain: &Domain, name: &str) -> Result<i64, TagFailure> {
    if let Some(id) = remembered(domain, name).await? {
        return Ok(id);
    }
    let _one_at_a_time = MISSES.lock().await;
    if let Some(id) = remembered(domain, name).await? {
        return Ok(id);
    }
    let id = match domain.wechat.create_tag(name).await {
        Ok(tag) => tag.id,
        Err(e) if e.errcode() == Some(TAG_EXISTS) => {
            let tags = domain.wechat.tags().await?;
            match tags.into_iter().find(|t| t.name == name) {
                Some(tag) => tag.id,
                None => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    let remembered = wechat_tag::ActiveModel {
        name: Set(name.to_owned()),
        tag_id: Set(id),
    }
    .insert(&domain.db)
    .await;
    match remembered {
        // Another instance remembered it first: the same tag.
        Ok(_) => Ok(id),
        Err(e) if is_duplicate(&e) => Ok(id),
        Err(e) => Err(e.into()),
    }
}

/// Puts the tag named in `tagging` on `openid`.
pub async fn put_on(domain: &Domain, openid: &str, tagging: &Tagging) -> Result<(), TagFailure> {
    let id = tag_id(domain, &tagging.tag).await?;
    domain.wechat.tag_users(id, &[openid]).await?;
    Ok(())
}
