//! Batch claims: a worker marks the messages it claims with its own token, so one
//! conditional update claims many and a read-back tells which it won.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("deliveries"))
                .add_column(string_len_null("claim_token", 40))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_deliveries_claim")
                .table(Alias::new("deliveries"))
                .col(Alias::new("claim_token"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_deliveries_claim")
                .table(Alias::new("deliveries"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("deliveries"))
                .drop_column(Alias::new("claim_token"))
                .to_owned(),
        )
        .await
    }
}
