//! Single-use states for web authorization.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut t = crate::new_table(m, "oauth_states");
        t.col(string_len("nonce", 32).primary_key())
            .col(string_len("openid", 64))
            .col(big_integer("order_id"))
            .col(big_integer("created_at_ms"));
        m.create_table(t.to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("oauth_states"))
                .if_exists()
                .to_owned(),
        )
        .await
    }
}
