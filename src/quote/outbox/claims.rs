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
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, IdenStatic, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};

use super::status::Status;
use crate::db::Execute;
use crate::db::dedicated::Dedicated;

/// How long a claim holds before another instance may take the message over. Longer
/// than the HTTP client's 10 s timeout, so a live worker never loses its claim mid-send.
pub const LEASE_MS: i64 = 20_000;

/// A claim token: unique, and prefixed with the instance that holds it.
///
/// Increasing within a process, so that the tokens written into the claim index land
/// on its last page instead of a random one: under load every batch writes one, and a
/// random page was a read and a 4 KiB WAL frame more each time. The count starts from
/// the clock, so a later process that drew the same instance id (one in 2³²) starts
/// past the tokens of an earlier one.
pub fn new_token(instance_id: &str) -> String {
    static NEXT: std::sync::OnceLock<std::sync::atomic::AtomicU64> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let start = u64::try_from(crate::now_ms()).unwrap_or_default() << 20;
        std::sync::atomic::AtomicU64::new(start)
    });
    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{instance_id}-{n:016x}")
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
    pub async fn apply(&self, txn: &impl Execute) -> Result<(), DbErr> {
        let now = self.now;
        let claim = delivery::Entity::update_many()
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
            .filter(delivery::Column::Id.is_in(txn.in_list(&self.ids)))
            .filter(due(now));
        txn.queue(&claim.into_query()).await
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

/// The messages claimed under `token`: one query, however it is run.
fn claimed(token: &str) -> sea_orm::Select<delivery::Entity> {
    delivery::Entity::find().filter(delivery::Column::ClaimToken.eq(token))
}

/// The messages claimed under `token`.
pub async fn claimed_by(
    db: &DatabaseConnection,
    token: &str,
) -> Result<Vec<delivery::Model>, DbErr> {
    claimed(token).all(db).await
}

/// The messages claimed under `token`, read by the journal's SQLite connection in the
/// transaction that claimed them (see `journal`): the same rows as [`claimed_by`].
pub fn claimed_in(own: &Dedicated, token: &str) -> Result<Vec<delivery::Model>, DbErr> {
    use delivery::Column as C;
    let select = claimed(token).into_query();
    // By name, so the order of the model's fields does not matter; a field added to
    // the model fails to compile here until it is read too.
    own.rows(&select, |row| {
        Ok(delivery::Model {
            id: row.get(C::Id.as_str())?,
            kind: row.get(C::Kind.as_str())?,
            scan_id: row.get(C::ScanId.as_str())?,
            openid: row.get(C::Openid.as_str())?,
            order_id: row.get(C::OrderId.as_str())?,
            payload: row.get(C::Payload.as_str())?,
            status: row.get(C::Status.as_str())?,
            attempts: row.get(C::Attempts.as_str())?,
            next_attempt_at_ms: row.get(C::NextAttemptAtMs.as_str())?,
            lease_until_ms: row.get(C::LeaseUntilMs.as_str())?,
            deadline_at_ms: row.get(C::DeadlineAtMs.as_str())?,
            errcode: row.get(C::Errcode.as_str())?,
            errmsg: row.get(C::Errmsg.as_str())?,
            sent_at_ms: row.get(C::SentAtMs.as_str())?,
            created_at_ms: row.get(C::CreatedAtMs.as_str())?,
            updated_at_ms: row.get(C::UpdatedAtMs.as_str())?,
            claim_token: row.get(C::ClaimToken.as_str())?,
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_unique_and_increase_under_their_instance() {
        let tokens: Vec<String> = (0..1000).map(|_| super::new_token("0000abcd")).collect();
        assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{tokens:?}");
        assert!(
            tokens
                .iter()
                .all(|t| t.starts_with("0000abcd-") && t.len() == 25)
        );
    }
}
