//! On SQLite, each order's latest message in `order_messages`, written with the
//! messages: there no index finds an order's deliveries (the migration
//! `order_messages` says why), and `order_status` reads the row instead.

use entity::{delivery, order_message};
use sea_orm::sea_query::{Expr, InsertStatement, OnConflict, Query};
use sea_orm::{ColumnTrait, DbErr};

use super::super::kind::Kind;
use crate::db::Execute;
use crate::db::shaped::{Param, Shape, Site};

static LATEST: Site = Site("latest_messages");

/// Points the orders of the last `written` deliveries inserted at the latest of them.
/// Queued right after the batch's messages, inside the write transaction: the file's
/// one writer gave them the highest ids, one after another.
pub(super) async fn queue_latest(txn: &impl Execute, written: usize) -> Result<(), DbErr> {
    if written == 0 {
        return Ok(());
    }
    let written = i64::try_from(written).unwrap_or(i64::MAX);
    let params = [Param::from(Kind::Message.as_str()), written.into()];
    txn.queue_shaped(Shape::new(&LATEST, 0), &params, || latest(written))
        .await
}

/// `INSERT INTO order_messages SELECT order_id, id FROM deliveries WHERE … ON CONFLICT
/// …`: of an order's messages among the last `written`, the highest id stays.
fn latest(written: i64) -> InsertStatement {
    use delivery::Column as D;
    use order_message::Column as L;
    let rows = Query::select()
        .column(D::OrderId)
        .column(D::Id)
        .from(delivery::Entity)
        .and_where(D::Kind.eq(Kind::Message.as_str()))
        .and_where(Expr::cust_with_values(
            "\"id\" > (SELECT MAX(\"id\") FROM \"deliveries\") - ?",
            [written],
        ))
        .and_where(D::OrderId.is_not_null())
        .to_owned();
    Query::insert()
        .into_table(order_message::Entity)
        .columns([L::OrderId, L::DeliveryId])
        .select_from(rows)
        .expect("as many values as columns")
        .on_conflict(
            OnConflict::column(L::OrderId)
                .value(
                    L::DeliveryId,
                    Expr::cust("MAX(\"delivery_id\", \"excluded\".\"delivery_id\")"),
                )
                .to_owned(),
        )
        .to_owned()
}
