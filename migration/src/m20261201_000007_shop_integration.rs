//! The shop's own site plugs in: site keys; orders addressed by an opaque token, with
//! the shop's reference and its own fields (the article's three figures move into
//! them); and an outbox that carries more than messages (webhook events now, WeChat
//! tag calls later), so a delivery has a kind and its scan and order become optional.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut t = crate::new_table(m, "site_keys");
        t.col(big_pk_auto("id"))
            .col(string_len("name", 64))
            .col(string_len_uniq("key_sha256", 64))
            .col(big_integer("created_at_ms"))
            .col(big_integer_null("last_used_at_ms"))
            .col(big_integer_null("revoked_at_ms"));
        m.create_table(t.to_owned()).await?;
        orders(m).await?;
        deliveries(m).await?;
        m.create_index(
            Index::create()
                .name("idx_qr_codes_scene")
                .table(Alias::new("qr_codes"))
                .col(Alias::new("scene"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the shop integration moves order figures into fields; it is not undone".into(),
        ))
    }
}

/// Orders gain a token, the site key and reference they came with, their fields and
/// items; the three figure columns become fields and go.
async fn orders(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let table = || Alias::new("orders");
    for col in [
        string_len_null("token", 64),
        big_integer_null("site_key_id"),
        string_len_null("external_id", 64),
        text_null("fields"),
        text_null("items"),
    ] {
        m.alter_table(Table::alter().table(table()).add_column(col).to_owned())
            .await?;
    }
    let db = m.get_connection();
    let select = Query::select()
        .columns(["id", "total_cents", "saved_cents", "room_area_centi"].map(Alias::new))
        .from(table())
        .to_owned();
    let rows = db.query_all(&select).await?;
    let txn = db.begin().await?;
    for row in rows {
        let id: i64 = row.try_get("", "id")?;
        let total: i64 = row.try_get("", "total_cents")?;
        let saved: i64 = row.try_get("", "saved_cents")?;
        let area: i64 = row.try_get("", "room_area_centi")?;
        let fields = serde_json::json!([
            {"name": "total_money", "label": "报价", "type": "money", "value": hundredths(total)},
            {"name": "saved_money", "label": "节省金额", "type": "money", "value": hundredths(saved)},
            {"name": "room_area", "label": "套内面积（㎡）", "type": "decimal", "value": decimal(area)},
        ]);
        let update = Query::update()
            .table(table())
            .value(Alias::new("token"), token())
            .value(Alias::new("fields"), fields.to_string())
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned();
        txn.execute(&update).await?;
    }
    txn.commit().await?;
    for name in ["total_cents", "saved_cents", "room_area_centi"] {
        m.alter_table(
            Table::alter()
                .table(table())
                .drop_column(Alias::new(name))
                .to_owned(),
        )
        .await?;
    }
    m.create_index(
        Index::create()
            .name("idx_orders_token")
            .table(table())
            .col(Alias::new("token"))
            .unique()
            .to_owned(),
    )
    .await?;
    // NULLs are distinct in a unique index on both databases: the demo shop's orders
    // (no key, no reference) never collide.
    m.create_index(
        Index::create()
            .name("idx_orders_site_key_external")
            .table(table())
            .col(Alias::new("site_key_id"))
            .col(Alias::new("external_id"))
            .unique()
            .to_owned(),
    )
    .await
}

/// Deliveries gain a kind and a payload; scan and order become optional, and a scan may
/// queue several (its message and the shop's webhook event).
async fn deliveries(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = m.get_connection();
    match db.get_database_backend() {
        DbBackend::MySql => {
            for sql in [
                "ALTER TABLE deliveries ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT 'message'",
                "ALTER TABLE deliveries ADD COLUMN payload TEXT NULL",
                "ALTER TABLE deliveries MODIFY scan_id BIGINT NULL",
                "ALTER TABLE deliveries MODIFY order_id BIGINT NULL",
                "ALTER TABLE deliveries DROP INDEX scan_id",
                "CREATE INDEX idx_deliveries_scan ON deliveries (scan_id)",
                "CREATE INDEX idx_deliveries_kind ON deliveries (kind, id)",
            ] {
                db.execute_unprepared(sql).await?;
            }
        }
        _ => {
            // SQLite changes a column's constraints only by building the table anew.
            let txn = db.begin().await?;
            for sql in [
                "CREATE TABLE deliveries_new (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind VARCHAR(16) NOT NULL DEFAULT 'message',
                    scan_id BIGINT NULL,
                    openid VARCHAR(64) NOT NULL,
                    order_id BIGINT NULL,
                    payload TEXT NULL,
                    status VARCHAR(16) NOT NULL,
                    attempts INTEGER NOT NULL,
                    next_attempt_at_ms BIGINT NOT NULL,
                    lease_until_ms BIGINT NOT NULL,
                    deadline_at_ms BIGINT NOT NULL,
                    errcode INTEGER NULL,
                    errmsg TEXT NULL,
                    sent_at_ms BIGINT NULL,
                    created_at_ms BIGINT NOT NULL,
                    updated_at_ms BIGINT NOT NULL,
                    claim_token VARCHAR(40) NULL
                )",
                "INSERT INTO deliveries_new (id, scan_id, openid, order_id, status, attempts,
                    next_attempt_at_ms, lease_until_ms, deadline_at_ms, errcode, errmsg,
                    sent_at_ms, created_at_ms, updated_at_ms, claim_token)
                 SELECT id, scan_id, openid, order_id, status, attempts, next_attempt_at_ms,
                    lease_until_ms, deadline_at_ms, errcode, errmsg, sent_at_ms,
                    created_at_ms, updated_at_ms, claim_token FROM deliveries",
                "DROP TABLE deliveries",
                "ALTER TABLE deliveries_new RENAME TO deliveries",
                "CREATE INDEX idx_deliveries_due ON deliveries (status, next_attempt_at_ms)",
                "CREATE INDEX idx_deliveries_order ON deliveries (order_id)",
                "CREATE INDEX idx_deliveries_claim ON deliveries (claim_token)",
                "CREATE INDEX idx_deliveries_scan ON deliveries (scan_id)",
                "CREATE INDEX idx_deliveries_kind ON deliveries (kind, id)",
            ] {
                txn.execute_unprepared(sql).await?;
            }
            txn.commit().await?;
        }
    }
    Ok(())
}

/// An order's token: 24 random bytes, base64url (192 bits, 32 characters).
fn token() -> String {
    use base64::Engine;
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Fen as yuan with two decimals.
fn hundredths(v: i64) -> String {
    format!("{}.{:02}", v / 100, v % 100)
}

/// Hundredths as the shortest decimal text.
fn decimal(v: i64) -> String {
    let text = hundredths(v);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}
