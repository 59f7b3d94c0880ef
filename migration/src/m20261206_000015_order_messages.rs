//! Deliveries: on SQLite, each order's latest message in a table of its own, in place
//! of the index on `order_id`.
//!
//! `order_status` (the shop's page polls it) wants an order's latest message. The index
//! that found it took an entry for every delivery, each at the end of its order's run
//! of entries: scans of a few hundred orders in play landed each on a page of its own,
//! as the identities did before migration 14. `order_messages` holds one row an order,
//! a few bytes each, so the orders of a campaign share a handful of pages, and the
//! orders made lately (those shoppers scan) sit together at its end. In the bench's
//! journal statements (1,000 orders scanned at random), without the index and with the
//! table, a scan cost 18.0–18.2 µs against 20.3–20.7 and 4.4 KiB written against
//! 6.2–6.4.
//!
//! The journal writes the row with the messages, in the same transaction
//! (`outbox::enqueue::latest`). MySQL/MariaDB keep the index: there a secondary index's
//! change is logged as a change, not as the page.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::on_sqlite_at_once(
            m,
            &[
                "CREATE TABLE order_messages ( \
                     order_id INTEGER PRIMARY KEY NOT NULL, \
                     delivery_id INTEGER NOT NULL )",
                "INSERT INTO order_messages (order_id, delivery_id) \
                 SELECT order_id, MAX(id) FROM deliveries \
                 WHERE kind = 'message' AND order_id IS NOT NULL GROUP BY order_id",
                "DROP INDEX idx_deliveries_order",
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::on_sqlite_at_once(
            m,
            &[
                "CREATE INDEX idx_deliveries_order ON deliveries (order_id)",
                "DROP TABLE order_messages",
            ],
        )
        .await
    }
}
