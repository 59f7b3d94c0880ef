//! Schema migrations, run by `scanquote migrate` and at the start of `scanquote serve`.
pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_tables;
mod m20261122_000002_scene_replies;
mod m20261122_000003_leases;
mod m20261122_000004_delivery_claims;
mod m20261122_000005_oauth_states;
mod m20261122_000006_scan_indexes;
mod m20261201_000007_shop_integration;
mod m20261202_000008_hardening;
mod m20261202_000009_console;
mod m20261202_000010_channel_codes;
mod m20261204_000011_deliveries_scan_index;
mod m20261204_000012_scan_code_index;
mod m20261205_000013_push_signatures_in_order;
mod m20261206_000014_scan_identities_in_order;
mod m20261206_000015_order_messages;

pub struct Migrator;

/// Starts a `CREATE TABLE IF NOT EXISTS` with what every table needs on MySQL/MariaDB:
/// InnoDB (transactions) and utf8mb4 (nicknames with emoji). SQLite takes no options.
pub(crate) fn new_table(m: &SchemaManager, name: &'static str) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(Alias::new(name)).if_not_exists();
    if m.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::MySql {
        t.character_set("utf8mb4")
            .collate("utf8mb4_bin")
            .engine("InnoDB");
    }
    t
}

/// On SQLite, `statements` (the empty ones skipped) in one transaction; elsewhere
/// nothing. For the tables SQLite can change only by making them again.
pub(crate) async fn on_sqlite_at_once(
    m: &SchemaManager<'_>,
    statements: &[&str],
) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};
    if m.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    let txn = m.get_connection().begin().await?;
    for sql in statements.iter().filter(|sql| !sql.is_empty()) {
        txn.execute_unprepared(sql).await?;
    }
    txn.commit().await
}

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_tables::Migration),
            Box::new(m20261122_000002_scene_replies::Migration),
            Box::new(m20261122_000003_leases::Migration),
            Box::new(m20261122_000004_delivery_claims::Migration),
            Box::new(m20261122_000005_oauth_states::Migration),
            Box::new(m20261122_000006_scan_indexes::Migration),
            Box::new(m20261201_000007_shop_integration::Migration),
            Box::new(m20261202_000008_hardening::Migration),
            Box::new(m20261202_000009_console::Migration),
            Box::new(m20261202_000010_channel_codes::Migration),
            Box::new(m20261204_000011_deliveries_scan_index::Migration),
            Box::new(m20261204_000012_scan_code_index::Migration),
            Box::new(m20261205_000013_push_signatures_in_order::Migration),
            Box::new(m20261206_000014_scan_identities_in_order::Migration),
            Box::new(m20261206_000015_order_messages::Migration),
        ]
    }
}
