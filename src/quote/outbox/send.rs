//! One attempt at sending one message: the order's card, rendered for its shopper, to
//! `message/custom/send`. What came of it is decided by the [`retry`](super::retry)
//! policy and logged when it is recorded.

use entity::delivery;

use super::retry::{Failure, LocalFailure};
use crate::quote::Domain;
use crate::quote::card::context_for;
use crate::wechat::WechatError;
use crate::{AppError, now_ms};

pub async fn send(domain: &Domain, d: &delivery::Model) -> Result<(), Failure> {
    // A message taken over from a dead worker may be too late: WeChat would answer 45015.
    if now_ms() > d.deadline_at_ms {
        return Err(Failure::Local(LocalFailure::WindowPassed));
    }
    // The database may be back in a moment: a read that failed is worth a retry.
    let retry = |e: AppError| {
        Failure::Wechat(WechatError::Retry {
            errcode: None,
            reason: e.to_string(),
        })
    };
    let order = match domain.orders.cached(d.order_id).await {
        Ok(order) => order,
        Err(AppError::NotFound) => return Err(Failure::Local(LocalFailure::OrderGone)),
        Err(e) => return Err(retry(e)),
    };
    let card = match domain.cards.in_force().await {
        Ok(Some(card)) => card,
        Ok(None) => return Err(Failure::Local(LocalFailure::NoTemplate)),
        Err(e @ AppError::Db(_)) => return Err(retry(e)),
        // A stored template that does not compile will not compile on a retry either.
        Err(e) => return Err(Failure::Local(LocalFailure::BrokenTemplate(e.to_string()))),
    };
    let quote_url = domain
        .links
        .quote_url(&domain.base_url, &d.openid, order.id);
    let article = card
        .render(&context_for(
            &order,
            &d.openid,
            &quote_url,
            &domain.base_url,
        ))
        .map_err(|e| Failure::Local(e.into()))?;
    domain
        .wechat
        .send_news(&d.openid, &article)
        .await
        .map_err(Failure::Wechat)
}
