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

use super::memory::{Memory, ReadRows};

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

/// How a batch's scans were judged: which to record, and the last scan stored before
/// them (0 where the database's keys judge).
struct Judged {
    results: Vec<Written>,
    after: i64,
}

/// A batch's rows, inside the transaction `conn` is in, as `judged`.
async fn rows(conn: &impl Execute, b: &Batch<'_>, judged: &Judged) -> Result<(), DbErr> {
    enqueue::insert(conn, b.scans, &judged.results, judged.after, b.claimed).await?;
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

/// Judges the batch inside the transaction `conn` is in, on SQLite: the identities and
/// signatures the tables hold are known once the journal has read the rows added since
/// it last looked ([`Memory`]), and none can be added before this transaction ends. A
/// batch with no scan (or no signature) to judge leaves that reading to the next that
/// has one.
async fn judge<C: ReadRows>(
    conn: &C,
    memory: &mut Memory,
    b: &Batch<'_>,
    stored: &mut enqueue::Stored,
) -> Result<Judged, DbErr> {
    if b.scans.is_empty() {
        return Ok(Judged {
            results: Vec::new(),
            after: 0,
        });
    }
    let identities = &mut memory.identities;
    identities.catch_up(conn, b.now.div_euclid(1000)).await?;
    stored.holding(identities.stored(conn, b.scans).await?);
    if b.scans.iter().any(|s| s.seen.is_some()) {
        let recent = &mut memory.signatures;
        recent.catch_up(conn).await?;
        stored.knowing(recent.known(conn, b.scans).await?);
    }
    Ok(Judged {
        results: enqueue::sort_out(b.scans, stored),
        after: identities.last_id(),
    })
}

/// Writes a batch (reading back the messages it claimed for the worker, except
/// through a shared pool). On SQLite its scans are judged first, from the journal's
/// memory ([`judge`]). On MySQL they are written first on the assumption that none is
/// stored yet (a push and its retry in the same batch are told apart in memory); when
/// that meets the unique identity (WeChat retried a push recorded before, here or on
/// another instance), the batch is written again without what the database already
/// holds. A deadlock between instances is also met by writing again: nothing of a
/// failed attempt was committed, and the outcome updates are idempotent. Replays are
/// caught on MySQL by the key on the signature, like retries.
pub(super) async fn write(
    writer: &Writer,
    reader: &DatabaseConnection,
    memory: &mut Memory,
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
                    let judged = judge(&txn, memory, b, &mut stored).await?;
                    rows(&txn, b, &judged).await?;
                    txn.commit().await?;
                    Ok((judged.results, None))
                }
                // Their ids come back in the same round trip as the COMMIT.
                Writer::MySql(own) => {
                    let judged = Judged {
                        results: enqueue::sort_out(b.scans, &stored),
                        after: 0,
                    };
                    let ((), ids) = own
                        .transaction_reading(async |c| rows(c, b, &judged).await)
                        .await?;
                    let read_back = claimed_on_mysql(b, &judged.results, &ids);
                    Ok((judged.results, read_back))
                }
                // The handed-over messages are read back here, where their pages were
                // just written, instead of by the worker through the shared pool.
                Writer::Dedicated(own) => {
                    own.transaction(async |conn| {
                        let judged = judge(conn, memory, b, &mut stored).await?;
                        rows(conn, b, &judged).await?;
                        let read_back = b
                            .claimed
                            .map(|c| claims::claimed_in(conn, c.token))
                            .transpose()?;
                        Ok((judged.results, read_back))
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
