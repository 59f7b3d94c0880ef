//! The first schema. Times are BIGINT Unix milliseconds, money BIGINT fen; MySQL tables
//! are utf8mb4 so nicknames with emoji survive.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

use crate::new_table as table;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            table(m, "orders")
                .col(big_pk_auto("id"))
                .col(big_integer("total_cents"))
                .col(big_integer("saved_cents"))
                .col(big_integer("room_area_centi"))
                .col(big_integer("created_at_ms"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            table(m, "qr_codes")
                .col(big_pk_auto("id"))
                .col(string_len_uniq("ticket", 255))
                .col(string_len("url", 255))
                .col(string_len("kind", 16))
                .col(string_len("scene", 64))
                .col(string_len("target", 64))
                .col(big_integer_null("expires_at_ms"))
                .col(big_integer("created_at_ms"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_qr_codes_kind_target")
                .table(Alias::new("qr_codes"))
                .col(Alias::new("kind"))
                .col(Alias::new("target"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            table(m, "access_tokens")
                .col(string_len("app_id", 64).primary_key())
                .col(text("token"))
                .col(big_integer("expires_at_ms"))
                .col(big_integer("refresh_lease_until_ms"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            table(m, "scans")
                .col(big_pk_auto("id"))
                .col(string_len_uniq("event_identity", 191))
                .col(string_len("openid", 64))
                .col(string_len("event", 32))
                .col(string_len("scene", 64))
                .col(string_len_null("ticket", 255))
                .col(big_integer_null("qr_code_id"))
                .col(big_integer_null("order_id"))
                .col(big_integer("event_time"))
                .col(big_integer("received_at_ms"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_scans_order")
                .table(Alias::new("scans"))
                .col(Alias::new("order_id"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            table(m, "deliveries")
                .col(big_pk_auto("id"))
                .col(big_integer_uniq("scan_id"))
                .col(string_len("openid", 64))
                .col(big_integer("order_id"))
                .col(string_len("status", 16))
                .col(integer("attempts"))
                .col(big_integer("next_attempt_at_ms"))
                .col(big_integer("lease_until_ms"))
                .col(big_integer("deadline_at_ms"))
                .col(integer_null("errcode"))
                .col(text_null("errmsg"))
                .col(big_integer_null("sent_at_ms"))
                .col(big_integer("created_at_ms"))
                .col(big_integer("updated_at_ms"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_deliveries_due")
                .table(Alias::new("deliveries"))
                .col(Alias::new("status"))
                .col(Alias::new("next_attempt_at_ms"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_deliveries_order")
                .table(Alias::new("deliveries"))
                .col(Alias::new("order_id"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            table(m, "templates")
                .col(big_pk_auto("id"))
                .col(text("title"))
                .col(text("description"))
                .col(text("pic_url"))
                .col(text("link"))
                .col(big_integer("created_at_ms"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            table(m, "settings")
                .col(string_len("key", 64).primary_key())
                .col(text("value"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            table(m, "profiles")
                .col(string_len("openid", 64).primary_key())
                .col(string_len_null("nickname", 128))
                .col(text_null("headimgurl"))
                .col(boolean("subscribed"))
                .col(big_integer("fetched_at_ms"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "profiles",
            "settings",
            "templates",
            "deliveries",
            "scans",
            "access_tokens",
            "qr_codes",
            "orders",
        ] {
            m.drop_table(Table::drop().table(Alias::new(name)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
