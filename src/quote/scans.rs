//! Scans: a pushed scan event is resolved to what its code points at, recorded, and,
//! when it points at an order, queued as a message, both in one transaction, so a
//! crash loses neither and a retried push (same identity, unique index) adds nothing.

use entity::delivery;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;

use super::Domain;
use super::card::context_for;
use super::codes::{CodeKind, replies};
use super::outbox::Status;
use super::outbox::enqueue::{Message, NewScan, Written};
use super::settings::DeliveryMode;
use crate::metrics::Metrics;
use crate::wechat::message::Article;
use crate::wechat::reply::Reply;
use crate::wechat::{ScanEvent, Scene};
use crate::{AppError, now_ms};

/// What a scan points at.
enum Target {
    Order(i64),
    Reply(String),
    Nothing,
}

/// Resolves the scene: the ticket registry first (it knows what each code was made for,
/// so an order id and another kind's scene with the same value never collide), the
/// EventKey second (codes made before the registry, or pushes without Ticket).
async fn resolve(domain: &Domain, event: &ScanEvent) -> Result<(Option<i64>, Target), AppError> {
    let registered = match &event.ticket {
        Some(ticket) => domain.registry.find(ticket).await?,
        None => None,
    };
    let order = |id: i64| async move {
        match domain.orders.cached(id).await {
            Ok(o) => Ok(Some(Target::Order(o.id))),
            Err(AppError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    };
    let reply = |scene: String| async move {
        let text = Box::pin(replies::reply_text(&domain.db, &scene)).await?;
        Ok::<_, AppError>(text.map(Target::Reply))
    };
    let target = match &registered {
        Some(code) => match code.kind {
            Some(CodeKind::Order) => match code.target.parse::<i64>() {
                Ok(id) => order(id).await?,
                Err(_) => None,
            },
            Some(CodeKind::Reply) => reply(code.target.clone()).await?,
            Some(CodeKind::Promoter) | None => None,
        },
        None => match &event.scene {
            Scene::Id(id) => order(i64::from(*id)).await?,
            Scene::Str(s) => reply(s.clone()).await?,
        },
    };
    Ok((registered.map(|c| c.id), target.unwrap_or(Target::Nothing)))
}

/// Records a scan push and queues what it asks for; returns the passive reply to answer
/// with, if any. A retried push gets the same reply again: WeChat retries because it
/// did not get our answer, so the retry must get it. One log line per push.
pub async fn record_scan(domain: &Domain, event: &ScanEvent) -> Result<Option<Reply>, AppError> {
    // Reads happen outside the write transaction: on SQLite a transaction that starts
    // with a write takes the write lock at once instead of failing to upgrade it.
    let (qr_code_id, target) = resolve(domain, event).await?;
    let order_id = match &target {
        Target::Order(id) => Some(*id),
        _ => None,
    };
    let passive =
        order_id.is_some() && domain.delivery_mode.current().await? == DeliveryMode::PassiveReply;
    let reply = match (&target, passive) {
        (Target::Reply(text), _) => Some(Reply::Text(text.clone())),
        (Target::Order(id), true) => {
            Some(Reply::News(passive_card(domain, *id, &event.openid).await?))
        }
        _ => None,
    };
    let identity = event.identity();
    let row = entity::scan::ActiveModel {
        openid: Set(event.openid.clone()),
        event: Set(if event.new_follower {
            "subscribe"
        } else {
            "SCAN"
        }
        .into()),
        scene: Set(event.scene.to_string()),
        ticket: Set(event.ticket.clone()),
        qr_code_id: Set(qr_code_id),
        order_id: Set(order_id),
        event_time: Set(event.create_time),
        received_at_ms: Set(now_ms()),
        ..Default::default()
    };
    // The scan and its message are written in one transaction (shared with other
    // concurrent writes: see `outbox::journal`), committed before we answer.
    let written = domain
        .outbox
        .journal
        .scan(NewScan {
            identity: identity.clone(),
            row,
            message: match (order_id, passive) {
                (None, _) => Message::None,
                (Some(_), false) => Message::Queue,
                (Some(_), true) => Message::PassiveSent,
            },
        })
        .await?;
    if written == Written::Duplicate {
        Metrics::bump(&domain.metrics.duplicate_pushes);
        tracing::info!(%identity, "duplicate push dropped");
        return Ok(reply);
    }
    Metrics::bump(&domain.metrics.scans_received);
    tracing::info!(%identity, order = order_id, qr_code = qr_code_id, "scan recorded");
    // The message itself is with the worker already, or it was woken for it (journal).
    if order_id.is_some() && passive {
        Metrics::bump(&domain.metrics.messages_sent);
    }
    Ok(reply)
}

/// The quote card for a passive reply, rendered as a send renders it.
async fn passive_card(domain: &Domain, order_id: i64, openid: &str) -> Result<Article, AppError> {
    let order = domain.orders.cached(order_id).await?;
    let card = domain
        .cards
        .in_force()
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no message template")))?;
    let quote_url = domain.links.quote_url(&domain.base_url, openid, order.id);
    card.render(&context_for(&order, openid, &quote_url, &domain.base_url))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("template: {e}")))
}

/// Where an order's message stands, for the shopper's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Nobody scanned yet.
    Waiting,
    /// Scanned; the message is on its way.
    Sending,
    Sent,
    Failed,
}

pub async fn order_status(db: &DatabaseConnection, order_id: i64) -> Result<OrderStatus, DbErr> {
    let latest = delivery::Entity::find()
        .filter(delivery::Column::OrderId.eq(order_id))
        .order_by_desc(delivery::Column::Id)
        .one(db)
        .await?;
    Ok(
        match latest.as_ref().and_then(|d| Status::parse(&d.status)) {
            None => OrderStatus::Waiting,
            Some(Status::Sent) => OrderStatus::Sent,
            Some(Status::Failed) => OrderStatus::Failed,
            Some(Status::Pending | Status::Sending) => OrderStatus::Sending,
        },
    )
}
