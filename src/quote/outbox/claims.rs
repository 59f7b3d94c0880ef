//! Claims: how a worker takes due messages so that, of several instances, exactly one
//! sends each.
//!
//! A claim is one conditional update over the candidates' ids that stamps them
//! `sending` with a fresh token and a lease; reading back by token tells which ones
//! were won, so instances never send the same message, and none waits for another. A
//! lease that runs out (its instance died) makes the message due again, and another
//! worker takes it over.

use entity::delivery;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::status::Status;
use crate::db;

/// How long a claim holds before another instance may take the message over. Longer
/// than the HTTP client's 10 s timeout, so a live worker never loses its claim mid-send.
pub const LEASE_MS: i64 = 20_000;

/// A claim token: unique, and prefixed with the instance that holds it.
pub fn new_token(instance_id: &str) -> String {
    format!("{instance_id}-{:016x}", rand::random::<u64>())
}

/// Due now: pending and its time has come, or claimed by a lease that ran out.
fn due(now: i64) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(delivery::Column::Status.eq(Status::Pending.as_str()))
                .add(delivery::Column::NextAttemptAtMs.lte(now)),
        )
        .add(
            Condition::all()
                .add(delivery::Column::Status.eq(Status::Sending.as_str()))
                .add(delivery::Column::LeaseUntilMs.lt(now)),
        )
}

/// A claim to write: the candidates that are still due when it is written become
/// `sending`, leased to `token`.
pub struct NewClaim {
    pub ids: Vec<i64>,
    pub token: String,
    pub now: i64,
}

impl NewClaim {
    /// The conditional update: of several instances claiming one message, the first
    /// to commit wins it, and the others' `due` no longer holds for it.
    pub async fn apply(&self, txn: &impl ConnectionTrait) -> Result<(), DbErr> {
        let now = self.now;
        delivery::Entity::update_many()
            .col_expr(
                delivery::Column::Status,
                Expr::value(Status::Sending.as_str()),
            )
            .col_expr(delivery::Column::LeaseUntilMs, Expr::value(now + LEASE_MS))
            .col_expr(
                delivery::Column::Attempts,
                Expr::col(delivery::Column::Attempts).add(1),
            )
            .col_expr(delivery::Column::UpdatedAtMs, Expr::value(now))
            .col_expr(
                delivery::Column::ClaimToken,
                Expr::value(self.token.clone()),
            )
            .filter(delivery::Column::Id.is_in(db::padded(&self.ids)))
            .filter(due(now))
            .exec(txn)
            .await
            .map(|_| ())
    }
}

/// Messages due now: the first `orphans` of `ids` were claimed by an instance that
/// died (or stopped answering) before it recorded how their send went.
pub struct Due {
    pub ids: Vec<i64>,
    pub orphans: usize,
}

/// Up to `limit` due messages' ids, oldest first.
///
/// Reads go to the shared pool and only the claim itself to the writer, which the
/// callback's scans wait for. Orphans first (claims whose instance died; usually none),
/// then the queue in the order it is due: two reads, because one over both conditions
/// cannot walk the index in order and sorts the whole backlog each time.
pub async fn candidates(db: &DatabaseConnection, limit: usize, now: i64) -> Result<Due, DbErr> {
    let mut ids: Vec<i64> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .filter(delivery::Column::Status.eq(Status::Sending.as_str()))
        .filter(delivery::Column::LeaseUntilMs.lt(now))
        .limit(limit as u64)
        .into_tuple()
        .all(db)
        .await?;
    let orphans = ids.len();
    if ids.len() < limit {
        let queued: Vec<i64> = delivery::Entity::find()
            .select_only()
            .column(delivery::Column::Id)
            .filter(delivery::Column::Status.eq(Status::Pending.as_str()))
            .filter(delivery::Column::NextAttemptAtMs.lte(now))
            .order_by_asc(delivery::Column::NextAttemptAtMs)
            .limit((limit - ids.len()) as u64)
            .into_tuple()
            .all(db)
            .await?;
        ids.extend(queued);
    }
    Ok(Due { ids, orphans })
}

/// The messages claimed under `token`.
pub async fn claimed_by(
    db: &DatabaseConnection,
    token: &str,
) -> Result<Vec<delivery::Model>, DbErr> {
    delivery::Entity::find()
        .filter(delivery::Column::ClaimToken.eq(token))
        .all(db)
        .await
}
