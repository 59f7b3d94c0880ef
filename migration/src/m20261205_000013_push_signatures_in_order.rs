//! Push signatures: on SQLite, kept in the order they came, with no index by signature.
//!
//! The replay guard's rows were keyed by the query's signature, a SHA-1: every row of a
//! commit landed on a leaf page of its own, and SQLite writes each page a commit
//! touches whole into the WAL (and again into the file at the checkpoint). In the
//! bench's journal case that was 8.3 of the 15 KiB a push wrote, and 12 of its 31 µs.
//! Kept in order, a commit's rows share a page or two. The journal, the one writer of
//! a SQLite file at a time (its transactions take the write lock first), reads the
//! rows other instances added since its last look, inside the transaction, and judges
//! signatures from memory (`outbox::journal::recent`).
//!
//! MySQL/MariaDB write a page's change, not the page, to their log, and there two
//! instances write at once: the key on the signature stays the last word there.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // AUTOINCREMENT: an id is never given twice, even once the sweeper has emptied
        // the table, so "the rows after the last one read" misses none.
        rebuild(
            m,
            "id INTEGER PRIMARY KEY AUTOINCREMENT, signature varchar(64) NOT NULL, \
             body_sha256 varchar(64) NOT NULL, received_at_ms integer NOT NULL",
            "ORDER BY received_at_ms",
            "",
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild(
            m,
            "signature varchar(64) NOT NULL PRIMARY KEY, body_sha256 varchar(64) NOT NULL, \
             received_at_ms integer NOT NULL",
            "",
            "CREATE INDEX idx_push_signatures_received ON push_signatures (received_at_ms)",
        )
        .await
    }
}

/// On SQLite, `push_signatures` made again with `columns`, its rows copied in
/// `order`, then `after` run, in one transaction.
async fn rebuild(
    m: &SchemaManager<'_>,
    columns: &str,
    order: &str,
    after: &str,
) -> Result<(), DbErr> {
    crate::on_sqlite_at_once(
        m,
        &[
            &format!("CREATE TABLE push_signatures_new ({columns})"),
            &format!(
                "INSERT OR IGNORE INTO push_signatures_new (signature, body_sha256, received_at_ms) \
                 SELECT signature, body_sha256, received_at_ms FROM push_signatures {order}"
            ),
            "DROP TABLE push_signatures",
            "ALTER TABLE push_signatures_new RENAME TO push_signatures",
            after,
        ],
    )
    .await
}
