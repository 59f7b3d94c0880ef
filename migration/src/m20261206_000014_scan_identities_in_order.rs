//! Scans: on SQLite, no unique index on the event identity; an index on the push's
//! second in its place.
//!
//! An identity leads with its push's `CreateTime`, in seconds, then the openid. Flat
//! out, one second's identities (about 12,000 on the bench's machine) span hundreds of
//! the index's pages, so each scan of a commit landed on a page of its own: 23–25 of
//! the 64–69 pages a commit of about 40 scans wrote to the WAL (and the checkpointer
//! copied again). In the bench's flat SQLite case, the same build with identities
//! made to arrive in order spent 54–58 µs a push against 63–70.
//!
//! The journal, the one writer of a SQLite file at a time (its transactions take the
//! write lock first), reads the scans other instances added since its last look inside
//! its transaction, and judges retries from memory (`outbox::journal::identities`);
//! a push older than memory reaches is looked up among its second's scans, which
//! `idx_scans_event_time` finds. That index grows at its end: seconds come in order,
//! and within one its entries follow the row ids.
//!
//! MySQL/MariaDB write a page's change, not the page, to their log, and there two
//! instances write at once: the unique key on the identity stays the last word there.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: &str = "id, event_identity, openid, event, scene, ticket, qr_code_id, \
                       order_id, event_time, received_at_ms";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild(
            m,
            "",
            "INSERT INTO",
            "CREATE INDEX idx_scans_event_time ON scans (event_time)",
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Should a retry have been recorded twice meanwhile, its first scan stays.
        rebuild(m, "UNIQUE", "INSERT OR IGNORE INTO", "").await
    }
}

/// On SQLite, `scans` made again with the identity `identity` (a constraint or
/// nothing), its rows copied by `insert` (keeping their ids, and the ids given
/// before, so that none is given twice), its indexes made again, then `after` run, in
/// one transaction.
async fn rebuild(
    m: &SchemaManager<'_>,
    identity: &str,
    insert: &str,
    after: &str,
) -> Result<(), DbErr> {
    crate::on_sqlite_at_once(
        m,
        &[
            &format!(
                "CREATE TABLE scans_new ( \
                   id integer NOT NULL PRIMARY KEY AUTOINCREMENT, \
                   event_identity varchar(191) NOT NULL {identity}, \
                   openid varchar(64) NOT NULL, event varchar(32) NOT NULL, \
                   scene varchar(64) NOT NULL, ticket varchar(255) NULL, \
                   qr_code_id integer NULL, order_id integer NULL, \
                   event_time integer NOT NULL, received_at_ms integer NOT NULL )"
            ),
            &format!("{insert} scans_new ({COLUMNS}) SELECT {COLUMNS} FROM scans ORDER BY id"),
            "UPDATE sqlite_sequence SET seq = MAX(seq, \
               COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'scans'), 0)) \
             WHERE name = 'scans_new'",
            "DROP TABLE scans",
            "ALTER TABLE scans_new RENAME TO scans",
            "CREATE INDEX idx_scans_qr_code ON scans (qr_code_id, received_at_ms) \
             WHERE order_id IS NULL",
            after,
        ],
    )
    .await
}
