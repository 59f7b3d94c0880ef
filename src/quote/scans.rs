//! Scans: a pushed scan event becomes a recorded scan and, when it points at an order, a
//! queued message, both in one transaction, so a crash loses neither and a retried push
//! (same identity, unique index) adds nothing.

use entity::{delivery, scan};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;

use super::delivery::{STATUS_FAILED, STATUS_SENT};
use super::mode::{self, DeliveryMode};
use super::scan_rows::{Message, NewScan, Written};
use super::tickets::KIND_ORDER;
use super::{registry, template};
use crate::metrics::Metrics;
use crate::replies;
use crate::wechat::message::Article;
use crate::wechat::reply::Reply;
use crate::wechat::{ScanEvent, Scene};
use crate::{AppError, AppState, now_ms};

/// What became of a scan push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// A retry of a push already recorded: nothing was recorded or queued again.
    pub duplicate: bool,
    /// The order whose message was queued (on the first push only).
    pub queued_order: Option<i64>,
    /// A passive reply to answer with. Repeated for a retried push: WeChat retries
    /// because it did not get our answer, so the retry must get it.
    pub reply: Option<Reply>,
}

/// What a scan points at.
enum Target {
    Order(i64),
    Reply(String),
    Nothing,
}

/// Resolves the scene: the ticket registry first (it knows what each code was made for,
/// so an order id and another kind's scene with the same value never collide), the
/// EventKey second (codes made before the registry, or pushes without Ticket).
async fn resolve(state: &AppState, event: &ScanEvent) -> Result<(Option<i64>, Target), AppError> {
    let db = &state.db;
    let registered = match &event.ticket {
        Some(ticket) => registry::find(db, &state.codes, ticket).await?,
        None => None,
    };
    let order = |id: i64| async move {
        match super::orders::cached_order(state, id).await {
            Ok(o) => Ok(Some(Target::Order(o.id))),
            Err(AppError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    };
    let reply = |scene: String| async move {
        // Boxed, so the query's large future is not part of every push's (see `crate::db`).
        let text = Box::pin(replies::reply_text(db, &scene)).await?;
        Ok::<_, AppError>(text.map(Target::Reply))
    };
    let target = match &registered {
        Some(code) if code.kind == KIND_ORDER => match code.target.parse::<i64>() {
            Ok(id) => order(id).await?,
            Err(_) => None,
        },
        Some(code) if code.kind == replies::KIND_REPLY => reply(code.target.clone()).await?,
        Some(_) => None,
        None => match &event.scene {
            Scene::Id(id) => order(i64::from(*id)).await?,
            Scene::Str(s) => reply(s.clone()).await?,
        },
    };
    Ok((registered.map(|c| c.id), target.unwrap_or(Target::Nothing)))
}

/// Logs one line per push (a span around it cost more than the line itself).
pub async fn record_scan(state: &AppState, event: &ScanEvent) -> Result<Handled, AppError> {
    // Reads happen outside the write transaction: on SQLite a transaction that starts
    // with a write takes the write lock at once instead of failing to upgrade it.
    let (qr_code_id, target) = resolve(state, event).await?;
    let order_id = match &target {
        Target::Order(id) => Some(*id),
        _ => None,
    };
    let passive = order_id.is_some()
        && mode::current(&state.db, &state.delivery_mode).await? == DeliveryMode::PassiveReply;
    let reply = match (&target, passive) {
        (Target::Reply(text), _) => Some(Reply::Text(text.clone())),
        (Target::Order(id), true) => {
            Some(Reply::News(passive_card(state, *id, &event.openid).await?))
        }
        _ => None,
    };
    let now = now_ms();
    let identity = event.identity();
    let row = scan::ActiveModel {
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
        received_at_ms: Set(now),
        ..Default::default()
    };
    // The scan and its message are written in one transaction (shared with other
    // concurrent writes: see `journal`), committed before we answer.
    let written = state
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
        Metrics::bump(&state.metrics.duplicate_pushes);
        tracing::info!(%identity, "duplicate push dropped");
        return Ok(Handled {
            duplicate: true,
            queued_order: None,
            reply,
        });
    }
    Metrics::bump(&state.metrics.scans_received);
    tracing::info!(%identity, order = order_id, qr_code = qr_code_id, "scan recorded");
    // The message itself is with the worker already, or it was woken for it (journal).
    if order_id.is_some() && passive {
        Metrics::bump(&state.metrics.messages_sent);
    }
    Ok(Handled {
        duplicate: false,
        queued_order: order_id,
        reply,
    })
}

/// The quote card for a passive reply, rendered as the worker would render it.
async fn passive_card(state: &AppState, order_id: i64, openid: &str) -> Result<Article, AppError> {
    let order = super::orders::cached_order(state, order_id).await?;
    let tpl = template::active_cached(state)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no message template")))?;
    let quote_url = state.links.quote_url(&state.base_url, openid, order.id);
    let ctx = template::context_for(&order, openid, &quote_url, &state.base_url);
    tpl.render(&ctx)
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
    Ok(match latest.as_ref().map(|d| d.status.as_str()) {
        None => OrderStatus::Waiting,
        Some(STATUS_SENT) => OrderStatus::Sent,
        Some(STATUS_FAILED) => OrderStatus::Failed,
        Some(_) => OrderStatus::Sending,
    })
}
