//! The outbox as the site owner and `/metrics` read it: pages of deliveries, counts by
//! status, the CSV export, the backlog gauge, and sending a failed message again by
//! hand.

use entity::delivery;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;

use super::kind::Kind;
use super::status::Status;
use crate::metrics::OutboxGauge;
use crate::quote::Domain;
use crate::{AppError, now_ms};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub openid: String,
    pub order_id: Option<i64>,
    pub status: Status,
    pub attempts: i32,
    pub errcode: Option<i32>,
    pub errmsg: Option<String>,
    pub created_at_ms: i64,
    pub sent_at_ms: Option<i64>,
    /// WeChat would still accept a retry (failed, and within the minute after the scan).
    pub retryable: bool,
}

impl From<delivery::Model> for DeliveryView {
    fn from(d: delivery::Model) -> Self {
        let status = Status::parse(&d.status).unwrap_or(Status::Pending);
        let retryable = status == Status::Failed && now_ms() < d.deadline_at_ms;
        DeliveryView {
            id: d.id,
            openid: d.openid,
            order_id: d.order_id,
            status,
            attempts: d.attempts,
            errcode: d.errcode,
            errmsg: d.errmsg,
            created_at_ms: d.created_at_ms,
            sent_at_ms: d.sent_at_ms,
            retryable,
        }
    }
}

/// The messages of the outbox (not the webhook events).
fn messages() -> sea_orm::Select<delivery::Entity> {
    delivery::Entity::find().filter(delivery::Column::Kind.eq(Kind::Message.as_str()))
}

/// A webhook event as the console lists it: what it said, and how its tries went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: i64,
    /// `scan`, `message.sent` or `message.failed`.
    pub event_type: String,
    /// The event's own id, the one the shop dedupes by.
    pub event_id: String,
    pub status: Status,
    pub attempts: i32,
    /// Why the last try was not taken.
    pub errmsg: Option<String>,
    pub created_at_ms: i64,
    pub sent_at_ms: Option<i64>,
    pub next_attempt_at_ms: i64,
    /// The JSON body POSTed.
    pub payload: String,
}

impl From<delivery::Model> for EventView {
    fn from(d: delivery::Model) -> Self {
        let payload = d.payload.unwrap_or_default();
        let head: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
        let text = |k: &str| head[k].as_str().unwrap_or_default().to_owned();
        EventView {
            id: d.id,
            event_type: text("type"),
            event_id: text("id"),
            status: Status::parse(&d.status).unwrap_or(Status::Pending),
            attempts: d.attempts,
            errmsg: d.errmsg,
            created_at_ms: d.created_at_ms,
            sent_at_ms: d.sent_at_ms,
            next_attempt_at_ms: d.next_attempt_at_ms,
            payload,
        }
    }
}

/// The latest webhook events, newest first.
pub async fn events(db: &DatabaseConnection, limit: u64) -> Result<Vec<EventView>, DbErr> {
    Ok(delivery::Entity::find()
        .filter(delivery::Column::Kind.eq(Kind::Webhook.as_str()))
        .order_by_desc(delivery::Column::Id)
        .limit(limit.clamp(1, 200))
        .all(db)
        .await?
        .into_iter()
        .map(EventView::from)
        .collect())
}

/// Sends a webhook event again (the same body, the same id), for another day of tries:
/// one the shop's server missed or lost. One still pending is left as it is.
pub async fn resend_event(domain: &Domain, id: i64) -> Result<EventView, AppError> {
    let now = now_ms();
    let updated = delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Status,
            Expr::value(Status::Pending.as_str()),
        )
        .col_expr(delivery::Column::NextAttemptAtMs, Expr::value(now))
        .col_expr(
            delivery::Column::DeadlineAtMs,
            Expr::value(now + super::retry::WEBHOOK_WINDOW_MS),
        )
        .col_expr(delivery::Column::UpdatedAtMs, Expr::value(now))
        .filter(delivery::Column::Id.eq(id))
        .filter(delivery::Column::Kind.eq(Kind::Webhook.as_str()))
        .filter(delivery::Column::Status.is_in([Status::Sent.as_str(), Status::Failed.as_str()]))
        .exec(&domain.db)
        .await?;
    let row = delivery::Entity::find_by_id(id)
        .filter(delivery::Column::Kind.eq(Kind::Webhook.as_str()))
        .one(&domain.db)
        .await?
        .ok_or(AppError::NotFound)?;
    if updated.rows_affected == 1 {
        domain.outbox.handoff.wake();
    }
    Ok(row.into())
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StatusCounts {
    pub pending: u64,
    pub sending: u64,
    pub sent: u64,
    pub failed: u64,
}

pub async fn status_counts(db: &DatabaseConnection) -> Result<StatusCounts, DbErr> {
    let count = |status: Status| {
        messages()
            .filter(delivery::Column::Status.eq(status.as_str()))
            .count(db)
    };
    Ok(StatusCounts {
        pending: count(Status::Pending).await?,
        sending: count(Status::Sending).await?,
        sent: count(Status::Sent).await?,
        failed: count(Status::Failed).await?,
    })
}

/// How many messages wait, and how long the oldest has waited.
pub async fn outbox_gauge(db: &DatabaseConnection) -> Result<OutboxGauge, DbErr> {
    let waiting = || {
        delivery::Entity::find().filter(
            delivery::Column::Status.is_in([Status::Pending.as_str(), Status::Sending.as_str()]),
        )
    };
    let depth = waiting().count(db).await?;
    let oldest = waiting()
        .order_by_asc(delivery::Column::CreatedAtMs)
        .one(db)
        .await?;
    let oldest_age_seconds = oldest
        .map(|d| (now_ms() - d.created_at_ms).max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    Ok(OutboxGauge {
        depth,
        oldest_age_seconds,
    })
}

/// One page of deliveries, newest first, optionally of one status, with the total.
pub async fn page(
    db: &DatabaseConnection,
    status: Option<Status>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<DeliveryView>, u64), DbErr> {
    let mut query = messages().order_by_desc(delivery::Column::Id);
    if let Some(status) = status {
        query = query.filter(delivery::Column::Status.eq(status.as_str()));
    }
    let pages = query.paginate(db, per_page.clamp(1, 200));
    let total = pages.num_items().await?;
    let rows = pages.fetch_page(page).await?;
    Ok((rows.into_iter().map(DeliveryView::from).collect(), total))
}

/// Sends a failed message again, if WeChat would still take it (within the minute after
/// its scan); later, WeChat refuses (45015) and a retry would only fail again.
pub async fn retry(domain: &Domain, id: i64) -> Result<DeliveryView, AppError> {
    let now = now_ms();
    let updated = delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Status,
            Expr::value(Status::Pending.as_str()),
        )
        .col_expr(delivery::Column::NextAttemptAtMs, Expr::value(now))
        .col_expr(delivery::Column::UpdatedAtMs, Expr::value(now))
        .filter(delivery::Column::Id.eq(id))
        .filter(delivery::Column::Kind.eq(Kind::Message.as_str()))
        .filter(delivery::Column::Status.eq(Status::Failed.as_str()))
        .filter(delivery::Column::DeadlineAtMs.gt(now))
        .exec(&domain.db)
        .await?;
    let row = delivery::Entity::find_by_id(id)
        .one(&domain.db)
        .await?
        .ok_or(AppError::NotFound)?;
    if updated.rows_affected != 1 {
        return Err(AppError::Conflict(
            "WeChat no longer accepts this message: only failed messages less than a minute after their scan can be retried".into(),
        ));
    }
    domain.outbox.handoff.wake();
    Ok(row.into())
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn iso(ms: i64) -> String {
    use chrono::TimeZone;
    chrono::Utc
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Every delivery as CSV (newest first, at most 100,000 rows).
pub async fn csv(db: &DatabaseConnection) -> Result<String, DbErr> {
    let rows = messages()
        .order_by_desc(delivery::Column::Id)
        .limit(100_000)
        .all(db)
        .await?;
    let mut out =
        String::from("id,created_at,order_id,openid,status,attempts,errcode,errmsg,sent_at\n");
    for d in rows {
        let line = [
            d.id.to_string(),
            iso(d.created_at_ms),
            d.order_id.map(|id| id.to_string()).unwrap_or_default(),
            csv_field(&d.openid),
            d.status,
            d.attempts.to_string(),
            d.errcode.map(|c| c.to_string()).unwrap_or_default(),
            csv_field(d.errmsg.as_deref().unwrap_or_default()),
            d.sent_at_ms.map(iso).unwrap_or_default(),
        ];
        out.push_str(&line.join(","));
        out.push('\n');
    }
    Ok(out)
}
