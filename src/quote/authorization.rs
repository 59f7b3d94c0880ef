//! Web authorization of a quote link's owner, so their page can show their WeChat
//! nickname and avatar (which `user/info` no longer returns).
//!
//! The `state` sent through WeChat is a random nonce plus a tag over it, and names a row
//! that records whose link started the round trip. The row is deleted on use, so a state
//! works once. When WeChat hands back a code, the openid it belongs to must be the
//! link's owner: a friend who opened the shared link and consented is not the owner, and
//! their profile never becomes the owner's.

use entity::oauth_state;
use rand::Rng;
use rand::distributions::Alphanumeric;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

use super::Domain;
use super::profiles::Reported;
use crate::wechat::oauth;
use crate::{AppError, now_ms};

/// How long a started round trip stays valid (then the sweeper takes it).
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;
const TAG_PURPOSE: &str = "oauth-state";

/// Starts a round trip for the owner of this link; returns the address of WeChat's
/// authorize page.
pub async fn begin(domain: &Domain, openid: &str, order_id: i64) -> Result<String, AppError> {
    let nonce: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    let now = now_ms();
    oauth_state::ActiveModel {
        nonce: Set(nonce.clone()),
        openid: Set(openid.to_owned()),
        order_id: Set(order_id),
        created_at_ms: Set(now),
    }
    .insert(&domain.db)
    .await?;
    let param = format!("{nonce}{}", domain.links.tag(TAG_PURPOSE, &nonce));
    let redirect = domain
        .base_url
        .join("oauth/callback")
        .expect("constant path");
    Ok(oauth::authorize_url(
        &domain.oauth_base,
        domain.wechat.app_id(),
        redirect.as_str(),
        &param,
    ))
}

/// What a finished round trip did.
#[derive(Debug, PartialEq, Eq)]
pub enum RoundTrip {
    /// The owner consented; their profile is stored.
    Stored,
    /// Someone else consented (a friend with the shared link): nothing stored for the owner.
    NotTheOwner,
    /// The user declined (no code): the page shows the neutral profile.
    Declined,
    /// WeChat refused the code or the profile; the page shows the neutral profile.
    Failed,
}

/// Finishes a round trip. Returns the link it came from (to go back to) and what it did.
/// A state that is forged, expired or used is refused with 404.
pub async fn finish(
    domain: &Domain,
    state_param: &str,
    code: Option<&str>,
) -> Result<(String, i64, RoundTrip), AppError> {
    if state_param.len() != 36 || !state_param.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(AppError::NotFound);
    }
    let (nonce, tag) = state_param.split_at(20);
    if !domain.links.verify_tag(TAG_PURPOSE, nonce, tag) {
        return Err(AppError::NotFound);
    }
    let Some(started) = oauth_state::Entity::find_by_id(nonce.to_owned())
        .one(&domain.db)
        .await?
    else {
        return Err(AppError::NotFound);
    };
    // Deleting is the claim: of two uses of one state, only one deletes the row.
    let used = oauth_state::Entity::delete_by_id(nonce.to_owned())
        .exec(&domain.db)
        .await?;
    if used.rows_affected != 1 || now_ms() - started.created_at_ms > STATE_TTL_MS {
        return Err(AppError::NotFound);
    }
    let (openid, order_id) = (started.openid, started.order_id);
    let Some(code) = code.filter(|c| !c.is_empty() && c.len() <= 128) else {
        return Ok((openid, order_id, RoundTrip::Declined));
    };
    let grant = match domain.wechat.exchange_code(code).await {
        Ok(grant) => grant,
        Err(e) => {
            tracing::warn!(error = %e, "web authorization: the code was not accepted");
            return Ok((openid, order_id, RoundTrip::Failed));
        }
    };
    if grant.openid != openid {
        tracing::info!("web authorization by someone other than the link's owner; nothing stored");
        return Ok((openid, order_id, RoundTrip::NotTheOwner));
    }
    let web = match domain.wechat.web_profile(&grant).await {
        Ok(web) => web,
        Err(e) => {
            tracing::warn!(error = %e, "web authorization: no profile");
            return Ok((openid, order_id, RoundTrip::Failed));
        }
    };
    let reported = Reported {
        nickname: web.nickname,
        avatar_url: web.headimgurl,
        subscribed: true,
    };
    domain.profiles.store(&openid, reported).await?;
    Ok((openid, order_id, RoundTrip::Stored))
}
