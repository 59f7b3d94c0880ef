//! Writing one batch in one transaction, through the journal's connection, and again
//! without what the database holds already when a scan of it turns out stored.

use std::time::Duration;

use entity::delivery;
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};

use crate::db::{self, Execute, Writer};
use crate::quote::outbox::claims::{self, NewClaim};
use crate::quote::outbox::enqueue::{self, ClaimedFor, NewScan, Written};
use crate::quote::outbox::outcomes::{self as outcome_rows, Outcome};
use crate::quote::outbox::retry::Change;

use super::recent::{ReadRows, Recent};

/// What one transaction writes.
pub(super) struct Batch<'a> {
    pub scans: &'a [NewScan],
    /// How the scans' messages are claimed, when they are handed over.
    pub claimed: Option<&'a ClaimedFor<'a>>,
    pub outcomes: &'a [Outcome],
    /// What the retry policy decided for each outcome.
    pub changes: &'a [Change],
    pub claims: &'a [NewClaim],
    pub now: i64,
}

/// A batch's rows, inside the transaction `conn` is in; `results` says which scans to
/// record.
async fn rows(conn: &impl Execute, b: &Batch<'_>, results: &[Written]) -> Result<(), DbErr> {
    enqueue::insert(conn, b.scans, results, b.claimed).await?;
    outcome_rows::apply(conn, b.outcomes, b.changes, b.now).await?;
    for claim in b.claims {
        claim.apply(conn).await?;
    }
    Ok(())
}

/// The messages a MySQL transaction claimed, made from the ids it read
/// ([`enqueue::claimed_messages`]); `None` (the worker reads them itself) should the
/// ids not read: the messages are committed by then.
fn claimed_on_mysql(
    b: &Batch<'_>,
    results: &[Written],
    rows: &[sea_orm::sqlx::mysql::MySqlRow],
) -> Option<Vec<delivery::Model>> {
    let claimed = b.claimed?;
    let queued = enqueue::queued_messages(b.scans, results);
    enqueue::claimed_messages(&queued, claimed, rows)
        .inspect_err(|e| tracing::error!(error = %e, "numbering claimed messages failed"))
        .ok()
}

/// Judges the batch inside the transaction `conn` is in, on SQLite: the signatures
/// the table holds are known once the journal has read the rows added since it last
/// looked ([`Recent`]), and none can be added before this transaction ends. A batch
/// with no signature to judge (encrypted pushes, outcomes) leaves the reading to the
/// next that has one.
async fn judge<C: ReadRows>(
    conn: &C,
    recent: &mut Recent,
    b: &Batch<'_>,
    stored: &mut enqueue::Stored,
) -> Result<Vec<Written>, DbErr> {
    if b.scans.iter().any(|s| s.seen.is_some()) {
        recent.catch_up(conn).await?;
        stored.knowing(recent.known(conn, b.scans).await?);
    }
    Ok(enqueue::sort_out(b.scans, stored))
}

/// Writes a batch (reading back the messages it claimed for the worker, except
/// through a shared pool), first on the assumption that none of its scans is stored
/// yet (a push and its retry in the same batch are told apart in memory). When that
/// meets the unique identity (WeChat retried a push recorded before, here or on
/// another instance), the batch is written again without what the database already
/// holds. A deadlock between instances is also met by writing again: nothing of a
/// failed attempt was committed, and the outcome updates are idempotent. Replays are
/// caught on MySQL by the key on the signature, like retries; on SQLite by `recent`.
pub(super) async fn write(
    writer: &Writer,
    reader: &DatabaseConnection,
    recent: &mut Recent,
    b: &Batch<'_>,
) -> Result<(Vec<Written>, Option<Vec<delivery::Model>>), DbErr> {
    let mut stored = enqueue::Stored::default();
    let mut tries = 0;
    loop {
        tries += 1;
        let attempt = async {
            match writer {
                Writer::Pool(conn) => {
                    let txn = conn.begin().await?;
                    let results = judge(&txn, recent, b, &mut stored).await?;
                    rows(&txn, b, &results).await?;
                    txn.commit().await?;
                    Ok((results, None))
                }
                // Their ids come back in the same round trip as the COMMIT.
                Writer::MySql(own) => {
                    let results = enqueue::sort_out(b.scans, &stored);
                    let ((), ids) = own
                        .transaction_reading(async |c| rows(c, b, &results).await)
                        .await?;
                    let read_back = claimed_on_mysql(b, &results, &ids);
                    Ok((results, read_back))
                }
                // The handed-over messages are read back here, where their pages were
                // just written, instead of by the worker through the shared pool.
                Writer::Dedicated(own) => {
                    own.transaction(async |conn| {
                        let results = judge(conn, recent, b, &mut stored).await?;
                        rows(conn, b, &results).await?;
                        let read_back = b
                            .claimed
                            .map(|c| claims::claimed_in(conn, c.token))
                            .transpose()?;
                        Ok((results, read_back))
                    })
                    .await
                }
            }
        };
        match attempt.await {
            Ok(written) => return Ok(written),
            Err(e) if db::is_duplicate(&e) && tries < db::TRANSACTION_TRIES => {
                stored = enqueue::already_stored(reader, b.scans).await?;
            }
            Err(e) if db::is_retryable(&e) && tries < db::TRANSACTION_TRIES => {
                tracing::warn!(error = %e, tries, "the journal hit a lock conflict; again");
                tokio::time::sleep(Duration::from_millis(5 * u64::from(tries))).await;
            }
            Err(e) => return Err(e),
        }
    }
}
