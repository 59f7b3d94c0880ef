//! Scans: on SQLite, the index the channel codes' numbers read holds only the scans
//! that are not an order's.
//!
//! It is read for channel codes (their scans and followers, by code) and for foreign
//! scans (no code), never for an order's scans, yet every order's scan wrote an entry
//! into it inside the journal's transaction that pushes wait for. Orders' codes are
//! many and scanned in no order, so each entry landed on a page of its own: in the
//! bench's flat SQLite case, 24 of the 124 pages each commit wrote to the WAL.
//!
//! MySQL/MariaDB have no partial indexes, so there the index stays whole.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const FULL: &str = "CREATE INDEX idx_scans_qr_code ON scans (qr_code_id, received_at_ms)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        replace(m, &format!("{FULL} WHERE order_id IS NULL")).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        replace(m, FULL).await
    }
}

/// On SQLite, `idx_scans_qr_code` made again by `create`.
async fn replace(m: &SchemaManager<'_>, create: &str) -> Result<(), DbErr> {
    if m.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    // One batch: run as two statements, the CREATE failed with "index already
    // exists" (on another connection of the pool, it seems, that had not yet seen the
    // DROP).
    let batch = format!("DROP INDEX IF EXISTS idx_scans_qr_code; {create}");
    m.get_connection().execute_unprepared(&batch).await?;
    Ok(())
}
