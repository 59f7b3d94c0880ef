//! Scans: a pushed scan event becomes a recorded scan and, when it points at an order, a
//! queued message, both in one transaction, so a crash loses neither and a retried push
//! (same identity, unique index) adds nothing.

use entity::{delivery, order, qr_code, scan};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, SqlErr, TransactionTrait,
};
use serde::Serialize;

use super::delivery::{STATUS_FAILED, STATUS_PENDING, STATUS_SENT, WINDOW_MS};
use super::tickets::KIND_ORDER;
use crate::metrics::Metrics;
use crate::wechat::{ScanEvent, Scene};
use crate::{AppError, AppState, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanOutcome {
    /// Recorded, and a message queued for this order.
    Queued { order_id: i64 },
    /// Recorded, but the scene is no order of ours.
    NoOrder,
    /// A retry of a push already recorded: nothing done.
    Duplicate,
}

/// Resolves the scene: the ticket registry first (it knows what each code was made for),
/// the EventKey second (codes made before the registry, or pushes without Ticket).
async fn resolve_order(
    db: &DatabaseConnection,
    event: &ScanEvent,
) -> Result<(Option<i64>, Option<i64>), DbErr> {
    let registered = match &event.ticket {
        Some(ticket) => {
            qr_code::Entity::find()
                .filter(qr_code::Column::Ticket.eq(ticket))
                .one(db)
                .await?
        }
        None => None,
    };
    let candidate = match &registered {
        Some(code) if code.kind == KIND_ORDER => code.target.parse::<i64>().ok(),
        Some(_) => None,
        None => match event.scene {
            Scene::Id(id) => Some(i64::from(id)),
            Scene::Str(_) => None,
        },
    };
    let order_id = match candidate {
        Some(id) => order::Entity::find_by_id(id).one(db).await?.map(|o| o.id),
        None => None,
    };
    Ok((registered.map(|c| c.id), order_id))
}

#[tracing::instrument(name = "record_scan", skip_all, fields(identity = %event.identity(), scene = %event.scene))]
pub async fn record_scan(state: &AppState, event: &ScanEvent) -> Result<ScanOutcome, AppError> {
    // Reads happen before the transaction: on SQLite a transaction that starts with a
    // write takes the write lock at once instead of failing to upgrade under contention.
    let (qr_code_id, order_id) = resolve_order(&state.db, event).await?;
    let now = now_ms();
    let txn = state.db.begin().await?;
    let inserted = scan::ActiveModel {
        event_identity: Set(event.identity()),
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
    }
    .insert(&txn)
    .await;
    let scan = match inserted {
        Ok(scan) => scan,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            txn.rollback().await?;
            Metrics::bump(&state.metrics.duplicate_pushes);
            tracing::info!("duplicate push dropped");
            return Ok(ScanOutcome::Duplicate);
        }
        Err(e) => return Err(e.into()),
    };
    let Some(order_id) = order_id else {
        txn.commit().await?;
        Metrics::bump(&state.metrics.scans_received);
        tracing::info!("scan of a code that is no order");
        return Ok(ScanOutcome::NoOrder);
    };
    delivery::ActiveModel {
        scan_id: Set(scan.id),
        openid: Set(event.openid.clone()),
        order_id: Set(order_id),
        status: Set(STATUS_PENDING.into()),
        attempts: Set(0),
        next_attempt_at_ms: Set(now),
        lease_until_ms: Set(0),
        deadline_at_ms: Set(now + WINDOW_MS),
        created_at_ms: Set(now),
        updated_at_ms: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Metrics::bump(&state.metrics.scans_received);
    state.outbox.notify_one();
    Ok(ScanOutcome::Queued { order_id })
}

/// Where an order's message stands, for the shopper's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
