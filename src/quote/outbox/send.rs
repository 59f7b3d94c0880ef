//! One attempt at one delivery: a message's card, rendered for its shopper, to
//! `message/custom/send`; or a webhook event, signed, to the shop's server. What came
//! of it is decided by the [`retry`](super::retry) policy and logged when recorded.

use std::sync::Arc;

use entity::delivery;

use super::kind::Kind;
use super::outcomes::{Outcome, ShopNotice};
use super::retry::{Failure, LocalFailure, WebhookRefused};
use crate::quote::Domain;
use crate::quote::codes::channel::action::Outgoing;
use crate::quote::codes::channel::tags::{self, TagFailure, Tagging};
use crate::quote::orders::Order;
use crate::quote::webhooks::SIGNATURE_HEADER;
use crate::wechat::WechatError;
use crate::{AppError, now_ms};

/// `order` is the message's order when the caller has it at hand.
pub async fn send(domain: &Domain, d: delivery::Model, order: Option<Arc<Order>>) -> Outcome {
    let (result, tell_shop) = match Kind::parse(&d.kind) {
        Some(Kind::Message) => send_message(domain, &d, order).await,
        Some(Kind::Webhook) => (send_event(domain, &d).await, None),
        Some(Kind::Reply) => (send_reply(domain, &d).await, None),
        Some(Kind::Tag) => (put_tag(domain, &d).await, None),
        // Claimed by this build but made by a newer one: left to fail with a reason
        // rather than guessed at.
        None => (
            Err(Failure::Local(LocalFailure::BrokenTemplate(format!(
                "unknown delivery kind {}",
                d.kind
            )))),
            None,
        ),
    };
    Outcome {
        delivery: d,
        result,
        tell_shop,
    }
}

/// The database may be back in a moment: a read that failed is worth a retry.
fn retry(e: AppError) -> Failure {
    Failure::Wechat(WechatError::Retry {
        errcode: None,
        reason: e.to_string(),
    })
}

async fn send_message(
    domain: &Domain,
    d: &delivery::Model,
    order: Option<Arc<Order>>,
) -> (Result<(), Failure>, Option<ShopNotice>) {
    // A message taken over from a dead worker may be too late: WeChat would answer 45015.
    if now_ms() > d.deadline_at_ms {
        return (Err(Failure::Local(LocalFailure::WindowPassed)), None);
    }
    let order = match (d.order_id, order) {
        (None, _) => return (Err(Failure::Local(LocalFailure::OrderGone)), None),
        (Some(id), Some(order)) if order.id == id => order,
        (Some(id), _) => match domain.orders.cached(id).await {
            Ok(order) => order,
            Err(AppError::NotFound) => return (Err(Failure::Local(LocalFailure::OrderGone)), None),
            Err(e) => return (Err(retry(e)), None),
        },
    };
    let tell_shop = match shop_notice(domain, &order).await {
        Ok(notice) => notice,
        Err(e) => return (Err(retry(e)), None),
    };
    let card = match domain.cards.in_force().await {
        Ok(Some(card)) => card,
        Ok(None) => return (Err(Failure::Local(LocalFailure::NoTemplate)), tell_shop),
        Err(e @ AppError::Db(_)) => return (Err(retry(e)), tell_shop),
        // A stored template that does not compile will not compile on a retry either.
        Err(e) => {
            let why = LocalFailure::BrokenTemplate(e.to_string());
            return (Err(Failure::Local(why)), tell_shop);
        }
    };
    let quote_url = domain
        .links
        .quote_url(&domain.base_url, &d.openid, order.id);
    let renders = domain.cards.renders();
    let article = match renders.render(&card, &order, &d.openid, &quote_url, &domain.base_url) {
        Ok(article) => article,
        Err(e) => return (Err(Failure::Local(e.into())), tell_shop),
    };
    let sent = domain
        .wechat
        .send_news(&d.openid, &article)
        .await
        .map_err(Failure::Wechat);
    (sent, tell_shop)
}

/// A channel code's answer, rendered when the scan came.
async fn send_reply(domain: &Domain, d: &delivery::Model) -> Result<(), Failure> {
    if now_ms() > d.deadline_at_ms {
        return Err(Failure::Local(LocalFailure::WindowPassed));
    }
    let outgoing: Option<Outgoing> = d
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    let sent = match outgoing {
        Some(Outgoing::Text(text)) => domain.wechat.send_text(&d.openid, &text).await,
        Some(Outgoing::News(article)) => domain.wechat.send_news(&d.openid, &article).await,
        None => return Err(Failure::Local(LocalFailure::Unreadable("渠道码回复"))),
    };
    sent.map_err(Failure::Wechat)
}

/// A channel code's tag, put on its scanner.
async fn put_tag(domain: &Domain, d: &delivery::Model) -> Result<(), Failure> {
    if now_ms() > d.deadline_at_ms {
        return Err(Failure::Local(LocalFailure::TagDayPassed));
    }
    let Some(tagging) = d
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str::<Tagging>(p).ok())
    else {
        return Err(Failure::Local(LocalFailure::Unreadable("标签")));
    };
    match tags::put_on(domain, &d.openid, &tagging).await {
        Ok(()) => Ok(()),
        Err(TagFailure::Wechat(e)) => Err(Failure::Wechat(e)),
        Err(TagFailure::Db(e)) => Err(retry(e.into())),
    }
}

/// What the shop's webhook is told of the message for `order`, when one is set.
async fn shop_notice(domain: &Domain, order: &Order) -> Result<Option<ShopNotice>, AppError> {
    Ok(domain.webhooks.current().await?.map(|_| ShopNotice {
        external_id: order.external_id.clone(),
        order_token: order.token.clone(),
    }))
}

/// At most once: a message whose instance ended mid-send, settled as unknown rather
/// than sent again. The shop is told, as of any message that ends.
pub async fn interrupted(domain: &Domain, d: delivery::Model) -> Outcome {
    let order = match d.order_id {
        Some(id) => domain.orders.cached(id).await.ok(),
        None => None,
    };
    let tell_shop = match &order {
        Some(order) => shop_notice(domain, order).await.ok().flatten(),
        None => None,
    };
    Outcome {
        delivery: d,
        result: Err(Failure::Interrupted),
        tell_shop,
    }
}

async fn send_event(domain: &Domain, d: &delivery::Model) -> Result<(), Failure> {
    if now_ms() > d.deadline_at_ms {
        return Err(Failure::Local(LocalFailure::WebhookDayPassed));
    }
    let hook = match domain.webhooks.current().await {
        Ok(Some(hook)) => hook,
        Ok(None) => return Err(Failure::Local(LocalFailure::WebhookOff)),
        Err(e) => return Err(retry(e)),
    };
    let body = d.payload.clone().unwrap_or_default();
    let signature = hook.signature(now_ms() / 1000, &body);
    let answer = domain
        .webhooks
        .http()
        .post(&hook.url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(Failure::Webhook(WebhookRefused::Status(
            r.status().as_u16(),
        ))),
        Err(e) => Err(Failure::Webhook(WebhookRefused::Network(
            e.without_url().to_string(),
        ))),
    }
}
