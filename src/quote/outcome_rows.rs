//! What a send's outcome does to its message row: sent, rescheduled with backoff, or
//! failed with WeChat's reason. Written by the [`journal`](super::journal) the moment
//! WeChat answers, many outcomes per transaction. Recording promptly matters beyond
//! speed: a message WeChat took but we have not yet marked sent would be sent again if
//! the process died before the mark, so that gap is kept as short as a commit.
//!
//! Every update is conditional on the claim token the message was sent under: had the
//! claim run out and another instance taken the message over, that instance's record
//! stands.

use std::collections::BTreeMap;

use entity::delivery;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter};

use super::delivery::{STATUS_FAILED, STATUS_PENDING, STATUS_SENT, backoff};
use crate::db;
use crate::metrics::Metrics;
use crate::wechat::WechatError;

/// Why a send did not succeed.
#[derive(Debug)]
pub enum Failure {
    Wechat(WechatError),
    /// Something on our side that retrying will not fix (order gone, template broken).
    Local(String),
}

/// A message as claimed (its attempt number and claim token) and how its send went.
pub type Outcome = (delivery::Model, Result<(), Failure>);

/// What one outcome does to its row.
pub enum Change {
    Sent,
    Retry {
        at_ms: i64,
        errcode: Option<i32>,
        errmsg: String,
    },
    Fail {
        errcode: Option<i32>,
        errmsg: String,
        /// The reason counted in the metrics: the errcode, `network` or `local`.
        reason: String,
    },
}

pub fn change_for(d: &delivery::Model, outcome: &Result<(), Failure>, now: i64) -> Change {
    let (errcode, errmsg, transient) = match outcome {
        Ok(()) => return Change::Sent,
        Err(Failure::Local(reason)) => (None, reason.clone(), false),
        Err(Failure::Wechat(e)) => {
            let errmsg = match e {
                WechatError::Rejected { errmsg, .. } | WechatError::RefreshToken { errmsg, .. } => {
                    errmsg.clone()
                }
                other => other.to_string(),
            };
            (
                e.errcode().and_then(|c| i32::try_from(c).ok()),
                errmsg,
                e.is_transient(),
            )
        }
    };
    let retry_at = now + backoff(d.attempts as u32).as_millis() as i64;
    if transient && retry_at < d.deadline_at_ms {
        return Change::Retry {
            at_ms: retry_at,
            errcode,
            errmsg,
        };
    }
    let reason = match (errcode, transient) {
        (Some(code), _) => code.to_string(),
        (None, true) => "network".to_owned(),
        (None, false) => "local".to_owned(),
    };
    Change::Fail {
        errcode,
        errmsg,
        reason,
    }
}

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
                ours(token, [d.id])
                    .col_expr(delivery::Column::Status, Expr::value(STATUS_PENDING))
                    .col_expr(delivery::Column::NextAttemptAtMs, Expr::value(*at_ms))
                    .col_expr(delivery::Column::Errcode, Expr::value(*errcode))
                    .col_expr(delivery::Column::Errmsg, Expr::value(Some(errmsg.clone())))
                    .col_expr(delivery::Column::UpdatedAtMs, Expr::value(now))
                    .exec(txn)
                    .await?;
            }
            Change::Fail {
                errcode, errmsg, ..
            } => {
                ours(token, [d.id])
                    .col_expr(delivery::Column::Status, Expr::value(STATUS_FAILED))
                    .col_expr(delivery::Column::Errcode, Expr::value(*errcode))
                    .col_expr(delivery::Column::Errmsg, Expr::value(Some(errmsg.clone())))
                    .col_expr(delivery::Column::UpdatedAtMs, Expr::value(now))
                    .exec(txn)
                    .await?;
            }
        }
    }
    for (token, ids) in sent {
        for some in db::chunks(&ids) {
            ours(token, some.iter().copied())
                .col_expr(delivery::Column::Status, Expr::value(STATUS_SENT))
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
        match change {
            Change::Sent => {
                Metrics::bump(&metrics.messages_sent);
                tracing::info!(delivery = d.id, order = d.order_id, attempt, "message sent");
            }
            Change::Retry {
                errcode, errmsg, ..
            } => {
                Metrics::bump(&metrics.messages_retried);
                tracing::warn!(
                    delivery = d.id,
                    order = d.order_id,
                    attempt,
                    errcode,
                    errmsg,
                    "send failed, will retry"
                );
            }
            Change::Fail {
                errcode,
                errmsg,
                reason,
            } => {
                metrics.failed(reason);
                tracing::warn!(
                    delivery = d.id,
                    order = d.order_id,
                    attempt,
                    errcode,
                    errmsg,
                    "send failed for good"
                );
            }
        }
    }
}
