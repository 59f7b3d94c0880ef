//! Named leases for coordination between instances.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut t = Table::create();
        t.table(Alias::new("leases"))
            .if_not_exists()
            .col(string_len("name", 128).primary_key())
            .col(big_integer("until_ms"));
        if m.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::MySql {
            t.character_set("utf8mb4")
                .collate("utf8mb4_bin")
                .engine("InnoDB");
        }
        m.create_table(t.to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("leases"))
                .if_exists()
                .to_owned(),
        )
        .await
    }
}
