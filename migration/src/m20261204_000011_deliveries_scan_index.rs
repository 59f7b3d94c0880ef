//! Deliveries: drop the index on `scan_id`, which no query reads.
//!
//! A delivery is found by its id, its claim, its order, its kind or when it is due,
//! never by its scan; yet every scan wrote an entry into this index too, inside the
//! journal's transaction that pushes wait for. (It replaced, in migration 7, the
//! unique index that once held one delivery per scan.)
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_deliveries_scan")
                .table(Alias::new("deliveries"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("idx_deliveries_scan")
                .table(Alias::new("deliveries"))
                .col(Alias::new("scan_id"))
                .to_owned(),
        )
        .await
    }
}
