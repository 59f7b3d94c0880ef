//! The outbox as the site owner and `/metrics` read it: pages of deliveries (with the
//! order's reference, the shopper's nickname and the reason in words), counts by
//! status, the backlog gauge, webhook events, and sending again by hand.

use entity::delivery;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;

use std::collections::HashMap;

use entity::{order, profile};

use super::kind::Kind;
use super::status::Status;
use crate::metrics::OutboxGauge;
use crate::quote::Domain;
use crate::wechat::api::errcode_zh;
use crate::{AppError, db, now_ms};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub openid: String,
    /// The shopper's nickname, when web authorization gave it.
    pub nickname: Option<String>,
    pub order_id: Option<i64>,
    /// The shop's reference of the order, when it gave one.
    pub external_id: Option<String>,
    /// `message` (an order's quote card) or `reply` (a channel code's answer).
    pub kind: String,
    /// What it is, as the owner reads it: 报价消息 or 渠道码回复.
    pub kind_zh: &'static str,
    pub status: Status,
    /// The status as the owner reads it (已发送, 失败, 状态不明 …).
    pub status_zh: &'static str,
    pub attempts: i32,
    pub errcode: Option<i32>,
    pub errmsg: Option<String>,
    /// Why it failed (or why the last try did), in words: WeChat's errcode explained,
    /// or our own reason.
    pub reason: Option<String>,
    pub created_at_ms: i64,
    pub sent_at_ms: Option<i64>,
    /// WeChat would still accept it sent again by hand: failed or unknown, and within
    /// the minute after the scan.
    pub retryable: bool,
}

/// Why a delivery did not go out, in words.
fn reason(errcode: Option<i32>, errmsg: Option<&str>) -> Option<String> {
    match (errcode.and_then(|c| errcode_zh(i64::from(c))), errmsg) {
        (Some(words), _) => Some(words.to_owned()),
        (None, Some(msg)) if !msg.is_empty() => Some(match errcode {
            Some(code) => format!("微信错误 {code}：{msg}"),
            None => msg.to_owned(),
        }),
        _ => None,
    }
}

impl From<delivery::Model> for DeliveryView {
    fn from(d: delivery::Model) -> Self {
        let status = Status::parse(&d.status).unwrap_or(Status::Pending);
        let retryable =
            matches!(status, Status::Failed | Status::Unknown) && now_ms() < d.deadline_at_ms;
        let kind_zh = match Kind::parse(&d.kind) {
            Some(Kind::Reply) => "渠道码回复",
            _ => "报价消息",
        };
        DeliveryView {
            id: d.id,
            kind: d.kind,
            kind_zh,
            openid: d.openid,
            nickname: None,
            order_id: d.order_id,
            external_id: None,
            status,
            status_zh: status.zh(),
            attempts: d.attempts,
            reason: reason(d.errcode, d.errmsg.as_deref()),
            errcode: d.errcode,
            errmsg: d.errmsg,
            created_at_ms: d.created_at_ms,
            sent_at_ms: d.sent_at_ms,
            retryable,
        }
    }
}

/// What the deliveries page lists: messages to shoppers (quote cards and channel
/// codes' replies), not webhook events or tags.
const MESSAGE_KINDS: [&str; 2] = [Kind::Message.as_str(), Kind::Reply.as_str()];

/// The messages of the outbox (not the webhook events).
fn messages() -> sea_orm::Select<delivery::Entity> {
    delivery::Entity::find().filter(delivery::Column::Kind.is_in(MESSAGE_KINDS))
}

/// A webhook event as the console lists it: what it said, and how its tries went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: i64,
    /// `scan`, `message.sent`, `message.failed` or `message.unknown`.
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
    pub unknown: u64,
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
        unknown: count(Status::Unknown).await?,
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
    Ok((described(db, rows).await?, total))
}

/// The newest `limit` messages, optionally of one status, for an export.
pub async fn latest(
    db: &DatabaseConnection,
    status: Option<Status>,
    limit: u64,
) -> Result<Vec<DeliveryView>, DbErr> {
    let mut query = messages().order_by_desc(delivery::Column::Id).limit(limit);
    if let Some(status) = status {
        query = query.filter(delivery::Column::Status.eq(status.as_str()));
    }
    described(db, query.all(db).await?).await
}

/// Rows as the owner reads them: with the order's reference and the shopper's nickname.
async fn described(
    db: &DatabaseConnection,
    rows: Vec<delivery::Model>,
) -> Result<Vec<DeliveryView>, DbErr> {
    let mut order_ids: Vec<i64> = rows.iter().filter_map(|d| d.order_id).collect();
    order_ids.sort_unstable();
    order_ids.dedup();
    let mut openids: Vec<String> = rows.iter().map(|d| d.openid.clone()).collect();
    openids.sort_unstable();
    openids.dedup();
    let mut references: HashMap<i64, String> = HashMap::new();
    for some in db::chunks(&order_ids) {
        let found: Vec<(i64, Option<String>)> = order::Entity::find()
            .select_only()
            .column(order::Column::Id)
            .column(order::Column::ExternalId)
            .filter(order::Column::Id.is_in(some.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        references.extend(found.into_iter().filter_map(|(id, r)| Some((id, r?))));
    }
    let mut nicknames: HashMap<String, String> = HashMap::new();
    for some in db::chunks(&openids) {
        let found: Vec<(String, Option<String>)> = profile::Entity::find()
            .select_only()
            .column(profile::Column::Openid)
            .column(profile::Column::Nickname)
            .filter(profile::Column::Openid.is_in(some.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        nicknames.extend(found.into_iter().filter_map(|(o, n)| Some((o, n?))));
    }
    Ok(rows
        .into_iter()
        .map(|d| {
            let mut view = DeliveryView::from(d);
            view.external_id = view.order_id.and_then(|id| references.get(&id).cloned());
            view.nickname = nicknames.get(&view.openid).cloned();
            view
        })
        .collect())
}

/// Sends a failed message again, or one whose outcome is unknown (the owner having
/// judged that the shopper did not get it), if WeChat would still take it (within the
/// minute after its scan); later, WeChat refuses (45015) and a retry would only fail
/// again.
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
        .filter(delivery::Column::Kind.is_in(MESSAGE_KINDS))
        .filter(delivery::Column::Status.is_in([Status::Failed.as_str(), Status::Unknown.as_str()]))
        .filter(delivery::Column::DeadlineAtMs.gt(now))
        .exec(&domain.db)
        .await?;
    let row = delivery::Entity::find_by_id(id)
        .one(&domain.db)
        .await?
        .ok_or(AppError::NotFound)?;
    if updated.rows_affected != 1 {
        return Err(AppError::Conflict(
            "微信已不再接受这条消息：只有扫码后一分钟内失败或状态不明的消息可以重新发送".into(),
        ));
    }
    domain.outbox.handoff.wake();
    Ok(row.into())
}
