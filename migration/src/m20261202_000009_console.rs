//! The console: each template version says how it came to be (saved, restored from an
//! earlier one, or the default the service started with).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("templates"))
                .add_column(string_len_null("origin", 32))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("templates"))
                .drop_column(Alias::new("origin"))
                .to_owned(),
        )
        .await
    }
}
