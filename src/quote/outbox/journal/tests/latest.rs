//! Each order's latest message on SQLite (`enqueue::latest`), written by `write` as
//! the journal calls it and read by `order_status` as the shop's page asks; and the
//! migration that made the table from the index it replaces.

use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::super::memory::Memory;
use super::recent::{count, file_migrated_to, journal_on_a_file, judged_at, pairs};
use super::scan;
use crate::quote::outbox::enqueue::{Message, NewEvent, NewScan, Written};
use crate::quote::scans::{OrderStatus, order_status};

/// `openid`'s scan of order `order`'s code in second `t`, queueing `message`.
fn of_order(openid: &str, t: i64, order: i64, message: Message) -> NewScan {
    let mut s = scan(openid, t);
    s.identity = format!("{t:013}|{openid}|SCAN|{order}");
    s.row.scene = order.to_string();
    s.row.order_id = Some(order);
    s.message = message;
    s
}

/// The message `openid`'s scan queued.
async fn message_of(shared: &DatabaseConnection, openid: &str) -> i64 {
    count(
        shared,
        &format!(
            "SELECT d.id FROM deliveries d JOIN scans s ON s.id = d.scan_id \
             WHERE s.openid = '{openid}' AND d.kind = 'message'"
        ),
    )
    .await
}

async fn pointed(shared: &DatabaseConnection) -> Vec<(i64, i64)> {
    pairs(
        shared,
        "SELECT order_id, delivery_id FROM order_messages ORDER BY order_id",
    )
    .await
}

async fn set_status(shared: &DatabaseConnection, delivery: i64, status: &str) {
    shared
        .execute_unprepared(&format!(
            "UPDATE deliveries SET status = '{status}' WHERE id = {delivery}"
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn each_orders_page_follows_its_latest_message() {
    let (_dir, shared, w) = journal_on_a_file().await;
    let mut m = Memory::default();
    let t = crate::now_ms() / 1000;
    // Order 1 twice, order 2 once, order 3's card carried by the push's answer, a scan
    // of no order, and a webhook event about order 1, inserted after the messages.
    let mut first = vec![
        of_order("oA", t, 1, Message::Queue),
        of_order("oB", t, 2, Message::Queue),
        of_order("oC", t, 1, Message::Queue),
        of_order("oD", t, 3, Message::PassiveSent),
        scan("oE", t),
    ];
    first[4].row.order_id = None;
    first[4].message = Message::None;
    first[0].event = Some(NewEvent {
        openid: "oA".into(),
        order_id: Some(1),
        payload: "{}".into(),
    });
    let recorded = judged_at(&w, &shared, &mut m, &first, t).await;
    assert_eq!(recorded, [Written::Recorded; 5]);
    let after_first = pointed(&shared).await;
    // A later scan of order 2, and a retry of oA's push, which queues nothing again.
    let second = [
        of_order("oF", t + 1, 2, Message::Queue),
        of_order("oA", t, 1, Message::Queue),
    ];
    let again = judged_at(&w, &shared, &mut m, &second, t + 1).await;
    assert_eq!(again, [Written::Recorded, Written::Duplicate]);

    let (a, b, c, d, f) = (
        message_of(&shared, "oA").await,
        message_of(&shared, "oB").await,
        message_of(&shared, "oC").await,
        message_of(&shared, "oD").await,
        message_of(&shared, "oF").await,
    );
    assert_eq!(after_first, [(1, c), (2, b), (3, d)]);
    assert_eq!(pointed(&shared).await, [(1, c), (2, f), (3, d)]);
    // The older message of an order says nothing of it once a newer one is queued.
    set_status(&shared, a, "failed").await;
    set_status(&shared, b, "sent").await;
    let status = async |order| order_status(&shared, order).await.unwrap();
    assert_eq!(status(1).await, OrderStatus::Sending, "oC's, pending");
    assert_eq!(status(2).await, OrderStatus::Sending, "oF's, pending");
    assert_eq!(status(3).await, OrderStatus::Sent, "carried by the answer");
    assert_eq!(status(4).await, OrderStatus::Waiting, "never scanned");
    set_status(&shared, c, "unknown").await;
    assert_eq!(status(1).await, OrderStatus::Unknown);
}

#[tokio::test]
async fn the_migration_points_each_order_at_its_latest_message_and_takes_the_index_back_down() {
    use migration::MigratorTrait;
    let (_dir, shared) = file_migrated_to(14).await;
    for (id, kind, order) in [
        (1, "message", "1"),
        (2, "message", "2"),
        (3, "message", "1"),
        (4, "webhook", "1"),
        (5, "message", "NULL"),
        (6, "reply", "2"),
    ] {
        shared
            .execute_unprepared(&format!(
                "INSERT INTO deliveries (id, kind, openid, order_id, status, attempts, \
                 next_attempt_at_ms, lease_until_ms, deadline_at_ms, created_at_ms, \
                 updated_at_ms) VALUES ({id}, '{kind}', 'o', {order}, 'sent', 1, 0, 0, 0, 0, 0)"
            ))
            .await
            .unwrap();
    }
    let index = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'idx_deliveries_order'";
    let table = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'order_messages'";

    migration::Migrator::up(&shared, Some(1)).await.unwrap();
    let (made, index_up) = (pointed(&shared).await, count(&shared, index).await);
    migration::Migrator::down(&shared, Some(1)).await.unwrap();

    assert_eq!(made, [(1, 3), (2, 2)]);
    assert_eq!(index_up, 0);
    assert_eq!(
        (count(&shared, index).await, count(&shared, table).await),
        (1, 0)
    );
}
