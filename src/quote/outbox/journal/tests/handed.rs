//! What the journal hands the worker with the messages it wrote claimed: their orders,
//! as the scans found them, so that a send need not look its order up again.

use std::sync::Arc;

use super::scan;
use crate::db;
use crate::metrics::Metrics;
use crate::quote::orders::Order;
use crate::quote::outbox::enqueue::{Message, Written};
use crate::quote::outbox::handoff;
use crate::quote::outbox::journal::Journal;
use crate::quote::outbox::retry::Guarantee;

fn order(id: i64) -> Arc<Order> {
    Arc::new(Order::with_id(id))
}

#[tokio::test]
async fn each_message_handed_over_comes_with_the_order_its_scan_found() {
    let (_dir, url, conn) = db::tests::migrated_file().await;
    let writer = db::connect_writer(&url, &conn, db::Synchronous::default())
        .await
        .unwrap();
    let channel = Arc::new(handoff::Channel::new());
    let mut handed = channel.take_receiver().unwrap();
    let journal = Journal::spawn(
        writer,
        conn,
        Arc::new(Metrics::default()),
        channel,
        "h".into(),
        Guarantee::default(),
    )
    .unwrap();

    let (first, second) = (order(1), order(2));
    let mut scans = [scan("oH01", 1_796_380_900), scan("oH02", 1_796_380_901)];
    scans[1].row.order_id = Some(2);
    scans[0].order = Some(first.clone());
    scans[1].order = Some(second.clone());
    // A scan whose message is not queued hands nothing over, order or not.
    let mut passive = scan("oH03", 1_796_380_902);
    passive.message = Message::PassiveSent;
    passive.order = Some(order(3));
    let [a, b] = scans;
    let (a, b, c) = tokio::join!(journal.scan(a), journal.scan(b), journal.scan(passive));
    for written in [a, b, c] {
        assert_eq!(written.unwrap(), Written::Recorded);
    }

    let mut messages = Vec::new();
    while messages.len() < 2 {
        let mut h = handed.recv().await.unwrap();
        let rows = h.rows.take().expect("read back on a SQLite file");
        let mut theirs: Vec<i64> = rows.iter().filter_map(|m| m.order_id).collect();
        let mut given: Vec<i64> = h.orders.keys().copied().collect();
        theirs.sort();
        given.sort();
        assert_eq!(
            given, theirs,
            "the orders of the messages handed over, no other"
        );
        for message in rows {
            let order = h.order_of(&message);
            messages.push((message, order));
        }
    }
    messages.sort_by_key(|(m, _)| m.order_id);
    for ((message, order), expected) in messages.iter().zip([&first, &second]) {
        assert_eq!(message.order_id, Some(expected.id));
        let order = order.as_ref().expect("its order came with it");
        assert!(Arc::ptr_eq(order, expected), "the scan's own, not a copy");
    }
    assert!(
        handed.try_recv().is_err(),
        "the passive reply's message is not handed over"
    );
}
