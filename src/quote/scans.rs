//! Scans: a pushed scan event is resolved to what its code points at, recorded, and,
//! when it points at an order, queued as a message (and as an event for the shop's
//! webhook), all in one transaction, so a crash loses none and a retried push (same
//! identity, unique index) adds nothing.
//!
//! Only codes this service made resolve to anything: a push's `Ticket` is looked up in
//! the registry, and a ticket it did not issue (a code made elsewhere for this
//! account) resolves to nothing, whatever its scene. Only a push with no `Ticket` at
//! all is resolved by its scene, and only to a code this service made with it. Every
//! scan is recorded, foreign ones too (no code, no order), for the console.

use std::sync::Arc;

use entity::delivery;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QueryTrait, Set,
};
use serde::Serialize;

use super::Domain;
use super::codes::CodeKind;
use super::codes::channel::action::{Action, Outgoing, Scanned};
use super::codes::channel::tags::Tagging;
use super::orders::Order;
use super::outbox::enqueue::{Message, NewEvent, NewScan, Queued, ScanRow, Seen, Written};
use super::outbox::retry::{TAG_WINDOW_MS, WINDOW_MS};
use super::outbox::{Kind, Status};
use super::settings::DeliveryMode;
use super::webhooks::{EventType, event, rfc3339};
use crate::metrics::Metrics;
use crate::wechat::ScanEvent;
use crate::wechat::message::Article;
use crate::wechat::reply::Reply;
use crate::{AppError, now_ms};

/// What a scan points at.
enum Target {
    /// As its code keeps it: it goes on with the scan to the send, which then need not
    /// look it up.
    Order(Arc<Order>),
    Channel(Box<entity::channel_code::Model>),
    Nothing,
}

/// Resolves the code: by its ticket when the push has one, else by its scene, and only
/// to a code this service made.
async fn resolve(domain: &Domain, event: &ScanEvent) -> Result<(Option<i64>, Target), AppError> {
    let registered = match &event.ticket {
        Some(ticket) => domain.registry.find(ticket).await?,
        None => domain.registry.by_scene(&event.scene.to_string()).await?,
    };
    let channel = |id: i64| async move {
        let code = Box::pin(entity::channel_code::Entity::find_by_id(id).one(&domain.db)).await?;
        Ok::<_, AppError>(code.map(|c| Target::Channel(Box::new(c))))
    };
    let target = match &registered {
        Some(code) => match code.kind {
            Some(CodeKind::Order) => code
                .order(|id| domain.orders.cached(id))
                .await?
                .map(Target::Order),
            Some(CodeKind::Channel) => match code.target.parse::<i64>() {
                Ok(id) => channel(id).await?,
                Err(_) => None,
            },
            None => None,
        },
        None => None,
    };
    Ok((registered.map(|c| c.id), target.unwrap_or(Target::Nothing)))
}

/// Records a scan push and queues what it asks for; returns the passive reply to answer
/// with, if any. A retried push gets the same reply again: WeChat retries because it
/// did not get our answer, so the retry must get it. A replay (`seen`'s query with
/// another body) is refused. One log line per push.
pub async fn record_scan(
    domain: &Domain,
    event: &ScanEvent,
    seen: Option<Seen>,
) -> Result<Option<Reply>, AppError> {
    // Reads happen outside the write transaction: on SQLite a transaction that starts
    // with a write takes the write lock at once instead of failing to upgrade it.
    let (qr_code_id, target) = resolve(domain, event).await?;
    let order_id = match &target {
        Target::Order(order) => Some(order.id),
        _ => None,
    };
    let passive = !matches!(target, Target::Nothing)
        && domain.delivery_mode.current().await? == DeliveryMode::PassiveReply;
    let mut extra = Vec::new();
    let reply = match (&target, passive) {
        (Target::Channel(code), _) => channel_answer(domain, code, event, passive, &mut extra),
        (Target::Order(order), true) => Some(Reply::News(
            passive_card(domain, order, &event.openid).await?,
        )),
        _ => None,
    };
    let passive = passive && order_id.is_some();
    let identity = event.identity();
    let shop_event = match &target {
        Target::Order(order) => scan_event(domain, order, event).await?,
        _ => None,
    };
    let row = ScanRow {
        openid: event.openid.clone(),
        event: if event.new_follower {
            "subscribe"
        } else {
            "SCAN"
        },
        scene: event.scene.to_string(),
        ticket: event.ticket.clone(),
        qr_code_id,
        order_id,
        event_time: event.create_time,
        received_at_ms: now_ms(),
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
            event: shop_event,
            seen,
            extra,
            order: match target {
                Target::Order(order) if !passive => Some(order),
                _ => None,
            },
        })
        .await?;
    if written == Written::Replayed {
        Metrics::bump(&domain.metrics.replays_refused);
        tracing::warn!(%identity, "push refused: its query was seen before with another body");
        return Err(AppError::Forbidden);
    }
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

/// What a channel code's scan gets: a live code's welcome (a new follower, when it has
/// one) or reply, as the passive reply when the delivery mode allows, else queued; and
/// its tag, queued. A disabled or deleted code's scan is recorded and sends nothing.
fn channel_answer(
    domain: &Domain,
    code: &entity::channel_code::Model,
    event: &ScanEvent,
    passive: bool,
    extra: &mut Vec<Queued>,
) -> Option<Reply> {
    if !code.enabled || code.deleted_at_ms.is_some() {
        return None;
    }
    if let Some(tag) = &code.tag {
        extra.push(Queued {
            kind: Kind::Tag,
            payload: serde_json::to_string(&Tagging { tag: tag.clone() }).expect("plain data"),
            passive: false,
            window_ms: TAG_WINDOW_MS,
        });
    }
    let welcome = Action::from_json(code.welcome.as_deref()).filter(|_| event.new_follower);
    let action = welcome.or_else(|| Action::from_json(code.reply.as_deref()))?;
    let scanned = Scanned {
        name: &code.name,
        group: code.group_name.as_deref(),
        openid: &event.openid,
        base_url: domain.base_url.as_str(),
    };
    let outgoing = match action.render(&scanned) {
        Ok(outgoing) => outgoing,
        Err(e) => {
            // Checked when saved; a render that fails now (an address some openid made
            // long, say) sends nothing rather than a broken card.
            tracing::warn!(code = code.id, error = %e, "a channel code's reply did not render");
            return None;
        }
    };
    extra.push(Queued {
        kind: Kind::Reply,
        payload: serde_json::to_string(&outgoing).expect("plain data"),
        passive,
        window_ms: WINDOW_MS,
    });
    passive.then_some(match outgoing {
        Outgoing::Text(text) => Reply::Text(text),
        Outgoing::News(article) => Reply::News(article),
    })
}

/// Records that `openid` stopped following (for the channel codes' unfollows). A
/// retried push (same user, same time) is recorded once.
pub async fn record_unfollow(
    domain: &Domain,
    openid: &str,
    create_time: i64,
) -> Result<(), AppError> {
    let row = entity::unfollow::ActiveModel {
        event_identity: Set(format!("{create_time:012}|{openid}|unsubscribe")),
        openid: Set(openid.to_owned()),
        at_ms: Set(now_ms()),
        ..Default::default()
    };
    match sea_orm::ActiveModelTrait::insert(row, &domain.db).await {
        Ok(_) => {
            tracing::info!(openid, "unfollow recorded");
            Ok(())
        }
        Err(e) if crate::db::errors::is_duplicate(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The shop's `scan` event for a scan of its order's code, when a webhook is set.
async fn scan_event(
    domain: &Domain,
    order: &Order,
    scan: &ScanEvent,
) -> Result<Option<NewEvent>, AppError> {
    if domain.webhooks.current().await?.is_none() {
        return Ok(None);
    }
    let now = now_ms();
    let data = serde_json::json!({
        "external_id": order.external_id,
        "order_token": order.token,
        "openid": scan.openid,
        "new_follower": scan.new_follower,
        "scanned_at": rfc3339(scan.create_time.saturating_mul(1000)),
    });
    Ok(Some(NewEvent {
        openid: scan.openid.clone(),
        order_id: Some(order.id),
        payload: event(EventType::Scan, now, data),
    }))
}

/// The quote card for a passive reply, rendered as a send renders it.
async fn passive_card(domain: &Domain, order: &Order, openid: &str) -> Result<Article, AppError> {
    let card = domain
        .cards
        .in_force()
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no message template")))?;
    let quote_url = domain.links.quote_url(&domain.base_url, openid, order.id);
    domain
        .cards
        .renders()
        .render(&card, order, openid, &quote_url, &domain.base_url)
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
    /// At most once: the message may or may not have arrived.
    Unknown,
}

/// The status of the order's latest message: on SQLite the one `order_messages` points
/// at (it has no index by order; see `outbox::enqueue::latest`), on MySQL/MariaDB the
/// highest of the order's messages by the index on `order_id`.
pub async fn order_status(db: &DatabaseConnection, order_id: i64) -> Result<OrderStatus, DbErr> {
    let latest = if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
        use entity::order_message;
        use sea_orm::QuerySelect;
        let pointed = order_message::Entity::find_by_id(order_id)
            .select_only()
            .column(order_message::Column::DeliveryId)
            .into_query();
        delivery::Entity::find()
            .filter(delivery::Column::Id.in_subquery(pointed))
            .one(db)
            .await?
    } else {
        delivery::Entity::find()
            .filter(delivery::Column::OrderId.eq(order_id))
            .filter(delivery::Column::Kind.eq(Kind::Message.as_str()))
            .order_by_desc(delivery::Column::Id)
            .one(db)
            .await?
    };
    Ok(
        match latest.as_ref().and_then(|d| Status::parse(&d.status)) {
            None => OrderStatus::Waiting,
            Some(Status::Sent) => OrderStatus::Sent,
            Some(Status::Failed) => OrderStatus::Failed,
            Some(Status::Unknown) => OrderStatus::Unknown,
            Some(Status::Pending | Status::Sending) => OrderStatus::Sending,
        },
    )
}

/// A scan of a code this service did not make (or no longer knows), as the console
/// lists it under "其他二维码".
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ForeignScan {
    pub openid: String,
    /// `subscribe` or `SCAN`.
    pub event: String,
    /// The push's scene (its `EventKey` without `qrscene_`).
    pub scene: String,
    pub ticket: Option<String>,
    pub received_at_ms: i64,
}

/// The latest foreign scans, newest first.
pub async fn foreign_scans(db: &DatabaseConnection, limit: u64) -> Result<Vec<ForeignScan>, DbErr> {
    use entity::scan;
    use sea_orm::QuerySelect;
    Ok(scan::Entity::find()
        .filter(scan::Column::QrCodeId.is_null())
        // A foreign scan points at no order; said so, SQLite may read the index that
        // holds only the scans that are not an order's (migration 12).
        .filter(scan::Column::OrderId.is_null())
        .order_by_desc(scan::Column::Id)
        .limit(limit.clamp(1, 500))
        .all(db)
        .await?
        .into_iter()
        .map(|s| ForeignScan {
            openid: s.openid,
            event: s.event,
            scene: s.scene,
            ticket: s.ticket,
            received_at_ms: s.received_at_ms,
        })
        .collect())
}
