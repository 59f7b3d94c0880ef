//! Reading the outbox for the site owner: recent deliveries and counts by status.

use entity::delivery;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;

use super::delivery::{STATUS_FAILED, STATUS_PENDING, STATUS_SENDING, STATUS_SENT};
use crate::metrics::OutboxGauge;

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub id: i64,
    pub openid: String,
    pub order_id: i64,
    pub status: String,
    pub attempts: i32,
    pub errcode: Option<i32>,
    pub errmsg: Option<String>,
    pub created_at_ms: i64,
    pub sent_at_ms: Option<i64>,
}

impl From<delivery::Model> for DeliveryView {
    fn from(d: delivery::Model) -> Self {
        DeliveryView {
            id: d.id,
            openid: d.openid,
            order_id: d.order_id,
            status: d.status,
            attempts: d.attempts,
            errcode: d.errcode,
            errmsg: d.errmsg,
            created_at_ms: d.created_at_ms,
            sent_at_ms: d.sent_at_ms,
        }
    }
}

/// Newest first, optionally of one status; at most `limit` (capped at 500).
pub async fn recent_deliveries(
    db: &DatabaseConnection,
    status: Option<&str>,
    limit: u64,
) -> Result<Vec<DeliveryView>, DbErr> {
    let mut query = delivery::Entity::find()
        .order_by_desc(delivery::Column::Id)
        .limit(limit.clamp(1, 500));
    if let Some(status) = status.filter(|s| !s.is_empty()) {
        query = query.filter(delivery::Column::Status.eq(status));
    }
    Ok(query
        .all(db)
        .await?
        .into_iter()
        .map(DeliveryView::from)
        .collect())
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StatusCounts {
    pub pending: u64,
    pub sending: u64,
    pub sent: u64,
    pub failed: u64,
}

pub async fn status_counts(db: &DatabaseConnection) -> Result<StatusCounts, DbErr> {
    let count = |status: &'static str| {
        delivery::Entity::find()
            .filter(delivery::Column::Status.eq(status))
            .count(db)
    };
    Ok(StatusCounts {
        pending: count(STATUS_PENDING).await?,
        sending: count(STATUS_SENDING).await?,
        sent: count(STATUS_SENT).await?,
        failed: count(STATUS_FAILED).await?,
    })
}

/// How many messages wait, and how long the oldest has waited.
pub async fn outbox_gauge(db: &DatabaseConnection) -> Result<OutboxGauge, DbErr> {
    let waiting = || {
        delivery::Entity::find()
            .filter(delivery::Column::Status.is_in([STATUS_PENDING, STATUS_SENDING]))
    };
    let depth = waiting().count(db).await?;
    let oldest = waiting()
        .order_by_asc(delivery::Column::CreatedAtMs)
        .one(db)
        .await?;
    let oldest_age_seconds = oldest
        .map(|d| (crate::now_ms() - d.created_at_ms).max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    Ok(OutboxGauge {
        depth,
        oldest_age_seconds,
    })
}
