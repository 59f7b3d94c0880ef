//! The shopper's WeChat profile for the quote page, from `user/info`, kept in the
//! database and in a short-lived cache so that opening a link does not always cost an
//! API call. WeChat no longer returns nickname and avatar there, so both are optional
//! and the page falls back to a neutral look; a failing API never breaks the page.

use std::sync::Arc;
use std::time::Duration;

use entity::profile;
use moka::future::Cache;
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};

use crate::{AppState, now_ms};

/// A stored profile is asked for again after this long.
const FRESH_MS: i64 = 60 * 60 * 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
}

pub type ProfileCache = Cache<String, Arc<Profile>>;

pub fn new_cache() -> ProfileCache {
    Cache::builder()
        .max_capacity(10_000)
        .time_to_live(Duration::from_secs(600))
        .build()
}

pub async fn profile_for(state: &AppState, openid: &str) -> Arc<Profile> {
    if let Some(p) = state.profiles.get(openid).await {
        return p;
    }
    let profile = Arc::new(load(state, openid).await);
    state
        .profiles
        .insert(openid.to_owned(), profile.clone())
        .await;
    profile
}

async fn load(state: &AppState, openid: &str) -> Profile {
    let stored = profile::Entity::find_by_id(openid.to_owned())
        .one(&state.db)
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
    match state.wechat.user_info(openid).await {
        Ok(info) => {
            let row = profile::ActiveModel {
                openid: Set(openid.to_owned()),
                // Keep what we knew (e.g. from web authorization) when WeChat sends nothing.
                nickname: Set(info
                    .nickname
                    .filter(|n| !n.is_empty())
                    .or(stored.as_ref().and_then(|m| m.nickname.clone()))),
                headimgurl: Set(info
                    .headimgurl
                    .filter(|u| !u.is_empty())
                    .or(stored.as_ref().and_then(|m| m.headimgurl.clone()))),
                subscribed: Set(info.subscribe == 1),
                fetched_at_ms: Set(now_ms()),
            };
            let saved = profile::Entity::insert(row.clone())
                .on_conflict(
                    OnConflict::column(profile::Column::Openid)
                        .update_columns([
                            profile::Column::Nickname,
                            profile::Column::Headimgurl,
                            profile::Column::Subscribed,
                            profile::Column::FetchedAtMs,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&state.db)
                .await;
            if let Err(e) = saved {
                tracing::warn!(error = %e, "could not store a profile");
            }
            Profile {
                nickname: row.nickname.unwrap(),
                avatar_url: row.headimgurl.unwrap(),
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "user/info failed; showing the stored or a neutral profile");
            stored.as_ref().map(of).unwrap_or_default()
        }
    }
}
