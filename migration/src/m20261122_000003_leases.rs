//! Named leases for coordination between instances.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut t = crate::new_table(m, "leases");
        t.col(string_len("name", 128).primary_key())
            .col(big_integer("until_ms"));
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
