//! The shopper's WeChat profile for the quote page, kept in the database and in a
//! short-lived cache so that opening a link does not always cost an API call.
//!
//! Two sources write it: `user/info` (which since 2021 no longer returns nickname or
//! avatar, so both are optional and the page falls back to a neutral look) and web
//! authorization (the only source of both left, see [`super::authorization`]). Both
//! go through [`Profiles::store`], which keeps one rule for what is taken: a nickname
//! of at most 64 characters, an avatar only at an http(s) address. A failing API never
//! breaks the page.

use std::sync::Arc;
use std::time::Duration;

use entity::profile;
use moka::future::Cache;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set};

use crate::now_ms;
use crate::wechat::WechatClient;

/// A stored profile is asked for again after this long.
const FRESH_MS: i64 = 60 * 60 * 1000;
/// WeChat's nicknames are short; anything longer is cut.
const MAX_NICKNAME_CHARS: usize = 64;
/// An avatar address longer than this is not WeChat's.
const MAX_AVATAR_BYTES: usize = 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
}

/// What a source said of a user, before the rule of [`Profiles::store`] is applied.
pub struct Reported {
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub subscribed: bool,
}

#[derive(Clone)]
pub struct Profiles {
    db: DatabaseConnection,
    wechat: WechatClient,
    cache: Cache<String, Arc<Profile>>,
}

/// The nickname as the page may show it: trimmed, at most 64 characters, or none.
fn clean_nickname(nickname: Option<String>) -> Option<String> {
    nickname
        .map(|n| {
            n.trim()
                .chars()
                .take(MAX_NICKNAME_CHARS)
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
}

/// An avatar only at an http(s) address of sane length (never `javascript:` or
/// `data:`, which an `<img>` or a later link would carry).
fn clean_avatar(url: Option<String>) -> Option<String> {
    url.map(|u| u.trim().to_owned()).filter(|u| {
        u.len() <= MAX_AVATAR_BYTES && (u.starts_with("https://") || u.starts_with("http://"))
    })
}

impl Profiles {
    pub fn new(db: DatabaseConnection, wechat: WechatClient) -> Self {
        Profiles {
            db,
            wechat,
            cache: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(600))
                .build(),
        }
    }

    pub async fn for_openid(&self, openid: &str) -> Arc<Profile> {
        if let Some(p) = self.cache.get(openid).await {
            return p;
        }
        let profile = Arc::new(self.load(openid).await);
        self.cache.insert(openid.to_owned(), profile.clone()).await;
        profile
    }

    async fn load(&self, openid: &str) -> Profile {
        let stored = profile::Entity::find_by_id(openid.to_owned())
            .one(&self.db)
            .await
            .ok()
            .flatten();
        let of = |m: &profile::Model| Profile {
            nickname: m.nickname.clone(),
            avatar_url: m.headimgurl.clone(),
        };
        if let Some(m) = &stored
            && now_ms() - m.fetched_at_ms < FRESH_MS
        {
            return of(m);
        }
        match self.wechat.user_info(openid).await {
            Ok(info) => {
                let reported = Reported {
                    nickname: info.nickname,
                    avatar_url: info.headimgurl,
                    subscribed: info.subscribe == 1,
                };
                match self.store(openid, reported).await {
                    Ok(profile) => profile,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not store a profile");
                        stored.as_ref().map(of).unwrap_or_default()
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "user/info failed; showing the stored or a neutral profile");
                stored.as_ref().map(of).unwrap_or_default()
            }
        }
    }

    /// Stores what a source reported of `openid`, under the one rule for both sources.
    /// What it does not say (no nickname, say) keeps what was known.
    pub async fn store(&self, openid: &str, reported: Reported) -> Result<Profile, DbErr> {
        let nickname = clean_nickname(reported.nickname);
        let avatar_url = clean_avatar(reported.avatar_url);
        let mut update = vec![profile::Column::Subscribed, profile::Column::FetchedAtMs];
        if nickname.is_some() {
            update.push(profile::Column::Nickname);
        }
        if avatar_url.is_some() {
            update.push(profile::Column::Headimgurl);
        }
        let row = profile::ActiveModel {
            openid: Set(openid.to_owned()),
            nickname: Set(nickname),
            headimgurl: Set(avatar_url),
            subscribed: Set(reported.subscribed),
            fetched_at_ms: Set(now_ms()),
        };
        profile::Entity::insert(row)
            .on_conflict(
                OnConflict::column(profile::Column::Openid)
                    .update_columns(update)
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        self.cache.invalidate(openid).await;
        let stored = profile::Entity::find_by_id(openid.to_owned())
            .one(&self.db)
            .await?;
        Ok(stored
            .map(|m| Profile {
                nickname: m.nickname,
                avatar_url: m.headimgurl,
            })
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_takes_nicknames_and_avatars_from_any_source() {
        assert_eq!(clean_nickname(Some("  小明 ".into())), Some("小明".into()));
        assert_eq!(clean_nickname(Some("   ".into())), None);
        assert_eq!(
            clean_nickname(Some("长".repeat(100_000))).map(|n| n.chars().count()),
            Some(64)
        );
        assert_eq!(clean_avatar(Some("javascript:alert(1)".into())), None);
        assert_eq!(clean_avatar(Some("data:image/png;base64,AA".into())), None);
        assert_eq!(
            clean_avatar(Some(format!("https://x/{}", "a".repeat(2000)))),
            None
        );
        assert_eq!(
            clean_avatar(Some("https://thirdwx.qlogo.cn/a/132".into())),
            Some("https://thirdwx.qlogo.cn/a/132".into())
        );
    }
}
