//! Hardening: the signatures of recent pushes (replays are told from WeChat's retries),
//! server-side console sessions (a logout ends one), and an index on the expiry of
//! web authorization states (they are swept in the background, not per request).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut t = crate::new_table(m, "push_signatures");
        t.col(string_len("signature", 64).primary_key())
            .col(string_len("body_sha256", 64))
            .col(big_integer("received_at_ms"));
        m.create_table(t.to_owned()).await?;
        m.create_index(
            Index::create()
                .name("idx_push_signatures_received")
                .table(Alias::new("push_signatures"))
                .col(Alias::new("received_at_ms"))
                .to_owned(),
        )
        .await?;
        let mut t = crate::new_table(m, "admin_sessions");
        t.col(string_len("id", 64).primary_key())
            .col(big_integer("expires_at_ms"))
            .col(big_integer_null("revoked_at_ms"));
        m.create_table(t.to_owned()).await?;
        m.create_index(
            Index::create()
                .name("idx_oauth_states_created")
                .table(Alias::new("oauth_states"))
                .col(Alias::new("created_at_ms"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_oauth_states_created")
                .table(Alias::new("oauth_states"))
                .to_owned(),
        )
        .await?;
        for name in ["admin_sessions", "push_signatures"] {
            m.drop_table(Table::drop().table(Alias::new(name)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
