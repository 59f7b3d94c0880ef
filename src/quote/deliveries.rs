//! Reading the outbox for the site owner: recent deliveries and counts by status.

use entity::delivery;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;

use super::delivery::{STATUS_FAILED, STATUS_PENDING, STATUS_SENDING, STATUS_SENT};
use crate::metrics::OutboxGauge;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    /// WeChat would still accept a retry (failed, and within the minute after the scan).
    pub retryable: bool,
}

impl From<delivery::Model> for DeliveryView {
    fn from(d: delivery::Model) -> Self {
        let retryable = d.status == STATUS_FAILED && crate::now_ms() < d.deadline_at_ms;
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
            retryable,
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

/// One page of deliveries, newest first, optionally of one status, with the total.
pub async fn page(
    db: &DatabaseConnection,
    status: Option<&str>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<DeliveryView>, u64), DbErr> {
    let mut query = delivery::Entity::find().order_by_desc(delivery::Column::Id);
    if let Some(status) = status.filter(|s| !s.is_empty()) {
        query = query.filter(delivery::Column::Status.eq(status));
    }
    let pages = query.paginate(db, per_page.clamp(1, 200));
    let total = pages.num_items().await?;
    let rows = pages.fetch_page(page).await?;
    Ok((rows.into_iter().map(DeliveryView::from).collect(), total))
}

/// Sends a failed message again, if WeChat would still take it (within the minute after
/// its scan); later, WeChat refuses (45015) and a retry would only fail again.
pub async fn retry(state: &crate::AppState, id: i64) -> Result<DeliveryView, crate::AppError> {
    use sea_orm::sea_query::Expr;
    let now = crate::now_ms();
    let updated = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(STATUS_PENDING))
        .col_expr(delivery::Column::NextAttemptAtMs, Expr::value(now))
        .col_expr(delivery::Column::UpdatedAtMs, Expr::value(now))
        .filter(delivery::Column::Id.eq(id))
        .filter(delivery::Column::Status.eq(STATUS_FAILED))
        .filter(delivery::Column::DeadlineAtMs.gt(now))
        .exec(&state.db)
        .await?;
    let row = delivery::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(crate::AppError::NotFound)?;
    if updated.rows_affected != 1 {
        return Err(crate::AppError::Conflict(
            "WeChat no longer accepts this message: only failed messages less than a minute after their scan can be retried".into(),
        ));
    }
    state.outbox.notify_one();
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
    let rows = delivery::Entity::find()
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
            d.order_id.to_string(),
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
