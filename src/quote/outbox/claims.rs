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
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
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
    // By place: an entity's select lists its columns in `Column::iter()`'s order, the
    // order they are declared in, which a fieldless enum's discriminant is (a field read
    // from another's place fails `the_journal_reads_its_claims_as_the_pool_does`). By
    // name, rusqlite compared each name with every column's (17 × 17 a row): 4.5% of
    // the journal thread's time. A field added to the model fails to compile here until
    // it is read too.
    let at = |c: C| c as usize;
    own.rows(&select, |row| {
        Ok(delivery::Model {
            id: row.get(at(C::Id))?,
            kind: row.get(at(C::Kind))?,
            scan_id: row.get(at(C::ScanId))?,
            openid: row.get(at(C::Openid))?,
            order_id: row.get(at(C::OrderId))?,
            payload: row.get(at(C::Payload))?,
            status: row.get(at(C::Status))?,
            attempts: row.get(at(C::Attempts))?,
            next_attempt_at_ms: row.get(at(C::NextAttemptAtMs))?,
            lease_until_ms: row.get(at(C::LeaseUntilMs))?,
            deadline_at_ms: row.get(at(C::DeadlineAtMs))?,
            errcode: row.get(at(C::Errcode))?,
            errmsg: row.get(at(C::Errmsg))?,
            sent_at_ms: row.get(at(C::SentAtMs))?,
            created_at_ms: row.get(at(C::CreatedAtMs))?,
            updated_at_ms: row.get(at(C::UpdatedAtMs))?,
            claim_token: row.get(at(C::ClaimToken))?,
        })
    })
}

#[cfg(test)]
mod tests {
    use entity::delivery;
    use sea_orm::{EntityTrait, QueryTrait, Set};

    use crate::db::{self, Execute, Synchronous, dedicated::Dedicated};

    #[tokio::test]
    async fn the_journal_reads_its_claims_as_the_pool_does() {
        let (_dir, url, pool) = db::tests::migrated_file().await;
        let own = Dedicated::open(&url, Synchronous::Full).unwrap();
        // Every field set, and to a value no other field has.
        let row = |n: i64, token: &str| delivery::ActiveModel {
            kind: Set("webhook".into()),
            scan_id: Set(Some(n + 1)),
            openid: Set(format!("oClaim{n}")),
            order_id: Set(Some(n + 2)),
            payload: Set(Some(format!("{{\"n\":{n}}}"))),
            status: Set("sending".into()),
            attempts: Set(3),
            next_attempt_at_ms: Set(n + 4),
            lease_until_ms: Set(n + 5),
            deadline_at_ms: Set(n + 6),
            errcode: Set(Some(45_015)),
            errmsg: Set(Some("错误".into())),
            sent_at_ms: Set(Some(n + 7)),
            created_at_ms: Set(n + 8),
            updated_at_ms: Set(n + 9),
            claim_token: Set(Some(token.into())),
            ..Default::default()
        };
        let rows = [row(10, "t-1"), row(20, "t-2"), row(30, "t-1")];
        let read = own
            .transaction(async |c| {
                c.run(&delivery::Entity::insert_many(rows.clone()).into_query())
                    .await?;
                super::claimed_in(c, "t-1")
            })
            .await
            .unwrap();
        let pooled = super::claimed_by(&pool, "t-1").await.unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read, pooled);
        assert!(read.iter().all(|d| d.errmsg.as_deref() == Some("错误")));
    }

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
