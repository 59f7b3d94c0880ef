//! Scene-keyed automatic replies.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut t = crate::new_table(m, "scene_replies");
        t.col(big_pk_auto("id"))
            .col(string_len_uniq("scene", 64))
            .col(text("text"))
            .col(big_integer_null("qr_code_id"))
            .col(big_integer("created_at_ms"))
            .col(big_integer("updated_at_ms"));
        m.create_table(t.to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("scene_replies"))
                .if_exists()
                .to_owned(),
        )
        .await
    }
}
