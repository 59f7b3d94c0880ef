//! The journal's lanes on MySQL/MariaDB, through `Journal::spawn`, against a real server.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, EntityTrait};

use super::{fresh_database, scan, uncommitted};
use crate::db;
use crate::db::mysql_writer::MySqlWriter;
use crate::metrics::Metrics;
use crate::quote::outbox::enqueue::{self, ClaimedFor, Written};
use crate::quote::outbox::handoff;
use crate::quote::outbox::journal::Journal;
use crate::quote::outbox::outcomes::Outcome;
use crate::quote::outbox::retry::Guarantee;

/// On MySQL send outcomes have a lane of their own (`Journal::spawn`): an outcome is
/// recorded while a batch of scans waits on a lock another instance holds, not behind
/// that batch, and a flush waits for both lanes.
#[tokio::test]
async fn an_outcome_is_recorded_while_a_batch_of_scans_waits() {
    let Some((admin, name, url)) = fresh_database().await else {
        return;
    };
    // A message claimed and sent, whose outcome is to be recorded.
    let (other, ours) = (
        MySqlWriter::new(&url).await.unwrap(),
        MySqlWriter::new(&url).await.unwrap(),
    );
    let claimed = ClaimedFor {
        token: "l-1",
        lease_until_ms: i64::MAX,
    };
    let sent = [scan("oL01", 1_796_380_900)];
    ours.transaction(async |c| {
        enqueue::insert(c, &sent, &[Written::Recorded], Some(&claimed)).await
    })
    .await
    .unwrap();
    let conn = db::connect(&url).await.unwrap();
    let message = entity::delivery::Entity::find()
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    // Another instance has recorded a push, uncommitted; our journal's next batch
    // records the same push and waits on its lock.
    let (theirs, release) = uncommitted(other, scan("oL02", 1_796_380_901)).await;
    let writer = db::connect_writer(&url, &conn, db::Synchronous::default())
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
    let scanning = {
        let journal = journal.clone();
        tokio::spawn(async move { journal.scan(scan("oL02", 1_796_380_901)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let scan_waited = !scanning.is_finished();
    let outcome = Outcome {
        delivery: message,
        result: Ok(()),
        tell_shop: None,
    };
    let recorded = tokio::time::timeout(Duration::from_secs(5), journal.outcome(outcome)).await;
    let status = entity::delivery::Entity::find()
        .one(&conn)
        .await
        .unwrap()
        .map(|d| d.status);
    let _ = release.send(());
    theirs.await.unwrap().unwrap();
    let scanned = tokio::time::timeout(Duration::from_secs(10), scanning).await;
    let flushed = tokio::time::timeout(Duration::from_secs(5), journal.flush()).await;
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
    assert!(flushed.is_ok(), "the flush did not return");
}
