//! The journal's lanes on MySQL/MariaDB, through `Journal::spawn`, against a real server.

use std::sync::Arc;
use std::time::Duration;

use entity::delivery;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, TransactionTrait};

use super::{fresh_database, scan, uncommitted};
use crate::db;
use crate::db::mysql_writer::MySqlWriter;
use crate::metrics::Metrics;
use crate::quote::outbox::enqueue::{self, ClaimedFor, Written};
use crate::quote::outbox::handoff;
use crate::quote::outbox::journal::Journal;
use crate::quote::outbox::outcomes::Outcome;
use crate::quote::outbox::retry::Guarantee;

/// A message claimed and sent, whose outcome is to be recorded; a connection to its
/// database; and a journal on it, as the service starts one.
async fn sent_message(url: &str) -> (delivery::Model, DatabaseConnection, Journal) {
    let claimed = ClaimedFor {
        token: "l-1",
        lease_until_ms: i64::MAX,
    };
    let sent = [scan("oL01", 1_796_380_900)];
    MySqlWriter::new(url)
        .await
        .unwrap()
        .transaction(async |c| {
            enqueue::insert(c, &sent, &[Written::Recorded], 0, Some(&claimed)).await
        })
        .await
        .unwrap();
    let conn = db::connect(url).await.unwrap();
    let message = delivery::Entity::find().one(&conn).await.unwrap().unwrap();
    let writer = db::connect_writer(url, &conn, db::Synchronous::default())
        .await
        .unwrap();
    let journal = Journal::spawn(
        writer,
        conn.clone(),
        Arc::new(Metrics::default()),
        Arc::new(handoff::Channel::new()),
        "l".into(),
        Guarantee::default(),
    )
    .unwrap();
    (message, conn, journal)
}

/// On MySQL send outcomes have a lane of their own (`Journal::spawn`): an outcome is
/// recorded while a batch of scans waits on a lock another instance holds, not behind
/// that batch.
#[tokio::test]
async fn an_outcome_is_recorded_while_a_batch_of_scans_waits() {
    let Some((admin, name, url)) = fresh_database().await else {
        return;
    };
    let (message, conn, journal) = sent_message(&url).await;
    // Another instance has recorded a push, uncommitted; our journal's next batch
    // records the same push and waits on its lock.
    let other = MySqlWriter::new(&url).await.unwrap();
    let (theirs, release) = uncommitted(other, scan("oL02", 1_796_380_901)).await;
    let scanning = {
        let journal = journal.clone();
        tokio::spawn(async move { journal.scan(scan("oL02", 1_796_380_901)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let scan_waited = !scanning.is_finished();
    let outcome = Outcome::sent(message);
    let recorded = tokio::time::timeout(Duration::from_secs(5), journal.outcome(outcome)).await;
    let status = delivery::Entity::find()
        .one(&conn)
        .await
        .unwrap()
        .map(|d| d.status);
    let _ = release.send(());
    theirs.await.unwrap().unwrap();
    let scanned = tokio::time::timeout(Duration::from_secs(10), scanning).await;
    admin
        .execute_unprepared(&format!("DROP DATABASE `{name}`"))
        .await
        .unwrap();
    assert!(
        scan_waited,
        "the scan's batch did not wait on the other instance's lock"
    );
    assert!(
        recorded.is_ok(),
        "the outcome waited behind the scan's batch"
    );
    assert_eq!(status.as_deref(), Some("sent"));
    // The other instance committed the push first: ours is its retry.
    assert!(
        matches!(scanned, Ok(Ok(Ok(Written::Duplicate)))),
        "{scanned:?}"
    );
}

/// A flush returns only once what was queued before it is written in each lane: here an
/// outcome whose update waits on a lock another instance holds on its message.
#[tokio::test]
async fn a_flush_waits_for_an_outcome_queued_before_it() {
    let Some((admin, name, url)) = fresh_database().await else {
        return;
    };
    let (message, conn, journal) = sent_message(&url).await;
    let id = message.id;
    let other = conn.begin().await.unwrap();
    other
        .execute_unprepared(&format!(
            "SELECT id FROM deliveries WHERE id = {id} FOR UPDATE"
        ))
        .await
        .unwrap();
    let recording = {
        let journal = journal.clone();
        let outcome = Outcome::sent(message);
        tokio::spawn(async move { journal.outcome(outcome).await })
    };
    // Queued, past its wait for company, and at the lock.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let early = tokio::time::timeout(Duration::from_millis(500), journal.flush()).await;
    other.rollback().await.unwrap();
    let recorded = tokio::time::timeout(Duration::from_secs(5), recording).await;
    let flushed = tokio::time::timeout(Duration::from_secs(5), journal.flush()).await;
    let status = delivery::Entity::find_by_id(id)
        .one(&conn)
        .await
        .unwrap()
        .map(|d| d.status);
    admin
        .execute_unprepared(&format!("DROP DATABASE `{name}`"))
        .await
        .unwrap();
    assert!(
        early.is_err(),
        "the flush returned while the outcome queued before it was unwritten"
    );
    assert!(matches!(recorded, Ok(Ok(()))), "{recorded:?}");
    assert!(
        flushed.is_ok(),
        "the flush did not return once it was written"
    );
    assert_eq!(status.as_deref(), Some("sent"));
}
