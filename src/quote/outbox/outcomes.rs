//! Writing what the [retry policy](super::retry) decided for each send's outcome: sent,
//! rescheduled, or failed with WeChat's reason. Written by the
//! [`journal`](super::journal) the moment WeChat answers, many outcomes per
//! transaction. Recording promptly matters beyond speed: a message WeChat took but we
//! have not yet marked sent would be sent again if the process died before the mark,
//! so that gap is kept as short as a commit.
//!
//! Every update is conditional on the claim token the message was sent under: had the
//! claim run out and another instance taken the message over, that instance's record
//! stands.

use std::collections::BTreeMap;

use entity::delivery;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter};

use super::retry::{Change, Failure};
use super::status::Status;
use crate::db;
use crate::metrics::Metrics;

/// A message as claimed (its attempt number and claim token) and how its send went.
pub type Outcome = (delivery::Model, Result<(), Failure>);

/// Applies `changes` (one per outcome) inside `txn`.
pub async fn apply(
    txn: &DatabaseTransaction,
    batch: &[Outcome],
    changes: &[Change],
    now: i64,
) -> Result<(), DbErr> {
    // Sent messages are the bulk: one update per claim covers all of that claim's.
    let mut sent: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for ((d, _), change) in batch.iter().zip(changes) {
        let token = d.claim_token.as_deref().unwrap_or_default();
        match change {
            Change::Sent => sent.entry(token).or_default().push(d.id),
            Change::Retry {
                at_ms,
                errcode,
                errmsg,
            } => {
                unsent(token, d.id, Status::Pending, *errcode, errmsg, now)
                    .col_expr(delivery::Column::NextAttemptAtMs, Expr::value(*at_ms))
                    .exec(txn)
                    .await?;
            }
            Change::Fail {
                errcode, errmsg, ..
            } => {
                unsent(token, d.id, Status::Failed, *errcode, errmsg, now)
                    .exec(txn)
                    .await?;
            }
        }
    }
    for (token, ids) in sent {
        for some in db::chunks(&ids) {
            ours(token, some.iter().copied())
                .col_expr(delivery::Column::Status, Expr::value(Status::Sent.as_str()))
                .col_expr(delivery::Column::SentAtMs, Expr::value(now))
                .col_expr(delivery::Column::Errcode, Expr::value(Option::<i32>::None))
                .col_expr(
                    delivery::Column::Errmsg,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(delivery::Column::UpdatedAtMs, Expr::value(now))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}

/// Message `id`, not sent this time: its new status and why.
fn unsent(
    token: &str,
    id: i64,
    status: Status,
    errcode: Option<i32>,
    errmsg: &str,
    now: i64,
) -> sea_orm::UpdateMany<delivery::Entity> {
    ours(token, [id])
        .col_expr(delivery::Column::Status, Expr::value(status.as_str()))
        .col_expr(delivery::Column::Errcode, Expr::value(errcode))
        .col_expr(
            delivery::Column::Errmsg,
            Expr::value(Some(errmsg.to_owned())),
        )
        .col_expr(delivery::Column::UpdatedAtMs, Expr::value(now))
}

/// An update of the messages `ids` that applies only while they are still claimed with
/// `token`.
fn ours(token: &str, ids: impl IntoIterator<Item = i64>) -> sea_orm::UpdateMany<delivery::Entity> {
    delivery::Entity::update_many()
        .filter(delivery::Column::Id.is_in(ids))
        .filter(delivery::Column::ClaimToken.eq(token))
}

/// Metrics and logs, once the outcomes are committed (a retried transaction counts once).
pub fn report(metrics: &Metrics, batch: &[Outcome], changes: &[Change]) {
    for ((d, _), change) in batch.iter().zip(changes) {
        let attempt = d.attempts;
        let (errcode, errmsg, what) = match change {
            Change::Sent => {
                Metrics::bump(&metrics.messages_sent);
                tracing::info!(delivery = d.id, order = d.order_id, attempt, "message sent");
                continue;
            }
            Change::Retry {
                errcode, errmsg, ..
            } => {
                Metrics::bump(&metrics.messages_retried);
                (errcode, errmsg, "send failed, will retry")
            }
            Change::Fail {
                errcode,
                errmsg,
                reason,
            } => {
                metrics.failed(reason);
                (errcode, errmsg, "send failed for good")
            }
        };
        tracing::warn!(
            delivery = d.id,
            order = d.order_id,
            attempt,
            errcode,
            errmsg,
            "{what}"
        );
    }
}
