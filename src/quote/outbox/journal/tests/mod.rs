//! The journal's writes on MySQL/MariaDB against a real server (`TEST_MYSQL_URL`).

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, QueryOrder};
use tokio::sync::oneshot;

use crate::db::mysql_writer::MySqlWriter;
use crate::db::{self, Execute};
use crate::quote::outbox::enqueue::{self, ClaimedFor, Message, NewScan, ScanRow, Written};
use crate::quote::outbox::outcomes::{self, Outcome};
use crate::quote::outbox::retry::Change;

mod handed;
mod identities;
mod lanes;
mod latest;
mod recent;
mod shapes;

/// A scan of order 1 by `openid`, pushed in the second `event_time`.
fn scan(openid: &str, event_time: i64) -> NewScan {
    NewScan {
        identity: format!("{event_time:013}|{openid}|SCAN|1"),
        row: ScanRow {
            openid: openid.into(),
            event: "SCAN",
            scene: "1".into(),
            ticket: None,
            qr_code_id: None,
            order_id: Some(1),
            event_time,
            received_at_ms: event_time * 1000,
        },
        message: Message::Queue,
        event: None,
        seen: None,
        extra: Vec::new(),
        order: None,
    }
}

/// A new database with the schema on the test server: the server's connection, the
/// database's name (drop it before asserting) and its URL. `None` without
/// `TEST_MYSQL_URL`.
async fn fresh_database() -> Option<(DatabaseConnection, String, String)> {
    let server = db::tests::mysql_url()?;
    let name = format!("sq_journal_{:08x}", rand::random::<u32>());
    let admin = Database::connect(server.as_str()).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))
        .await
        .unwrap();
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    let url = format!("{base}/{name}");
    db::migrate(&db::connect(&url).await.unwrap())
        .await
        .unwrap();
    Some((admin, name, url))
}

/// Another instance's transaction that has recorded `scan` and holds it uncommitted
/// (and its locks with it) until the sender returned is used or dropped; it commits
/// then, and the task answers how that went.
async fn uncommitted(
    other: MySqlWriter,
    scan: NewScan,
) -> (
    tokio::task::JoinHandle<Result<(), sea_orm::DbErr>>,
    oneshot::Sender<()>,
) {
    let (written, wrote) = oneshot::channel();
    let (release, released) = oneshot::channel::<()>();
    let theirs = tokio::spawn(async move {
        let scans = [scan];
        other
            .transaction(async |c| {
                enqueue::insert(c, &scans, &[Written::Recorded], 0, None).await?;
                // Sends what was queued, so the scan is in the server, uncommitted.
                c.run(&sea_orm::sea_query::Query::select().expr(1).to_owned())
                    .await?;
                let _ = written.send(());
                let _ = released.await;
                Ok(())
            })
            .await
    });
    wrote.await.unwrap();
    (theirs, release)
}

/// Two instances' journals record scans of the same second at once, and their
/// identities sort among each other's. Under MySQL's default `REPEATABLE READ`, the
/// statement that makes a batch's messages from its scans read the scans by identity
/// with shared locks, met the other instance's scan not yet committed, and waited for
/// it, while that one waited for the table's auto-increment lock the first held: a
/// deadlock. The journal's connection reads committed rows, and takes no such locks
/// (`mysql_writer::read_committed`).
#[tokio::test]
async fn a_batch_does_not_wait_for_another_instances_scan_of_the_same_second() {
    let Some((admin, name, url)) = fresh_database().await else {
        return;
    };
    let (other, ours) = (
        MySqlWriter::new(&url).await.unwrap(),
        MySqlWriter::new(&url).await.unwrap(),
    );
    // The other instance has recorded its scan, and not committed yet.
    let (theirs, release) = uncommitted(other, scan("oD000000002", 1_796_380_509)).await;

    let scans = [
        scan("oD000000001", 1_796_380_509),
        scan("oD000000003", 1_796_380_509),
    ];
    let claimed = ClaimedFor {
        token: "ours-1",
        lease_until_ms: i64::MAX,
    };
    let recorded = [Written::Recorded, Written::Recorded];
    let attempt = ours.transaction(async |c| {
        enqueue::insert(c, &scans, &recorded, 0, Some(&claimed)).await?;
        // Sent now, not queued for the commit: this is the statement that waited.
        c.run(&sea_orm::sea_query::Query::select().expr(1).to_owned())
            .await
    });
    let ours_done = tokio::time::timeout(Duration::from_secs(5), attempt).await;
    let _ = release.send(());
    theirs.await.unwrap().unwrap();
    let messages = admin
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::MySql,
            format!("SELECT COUNT(*) FROM `{name}`.deliveries WHERE claim_token = 'ours-1'"),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    // Dropped before the verdict, so a failing run leaves no database behind.
    admin
        .execute_unprepared(&format!("DROP DATABASE `{name}`"))
        .await
        .unwrap();
    assert!(
        matches!(ours_done, Ok(Ok(_))),
        "our batch waited for the other instance's uncommitted scan: {ours_done:?}"
    );
    assert_eq!(messages, 2, "our two scans' messages, claimed as ours");
}

/// Sent outcomes of several claims in one batch: each message is marked only while it
/// holds the claim it was sent under. One claimed again since, even under a claim whose
/// outcomes are in the same batch, keeps that claim; its outcome is that claim's to
/// record.
#[tokio::test]
async fn sent_outcomes_of_several_claims_mark_only_what_each_still_holds() {
    let Some((admin, name, url)) = fresh_database().await else {
        return;
    };
    let writer = MySqlWriter::new(&url).await.unwrap();
    let second = 1_796_380_509;
    writer
        .transaction(async |c| {
            for (openid, token) in [("oE01", "a-1"), ("oE02", "a-1"), ("oE03", "b-1")] {
                let claimed = ClaimedFor {
                    token,
                    lease_until_ms: i64::MAX,
                };
                let scans = [scan(openid, second)];
                enqueue::insert(c, &scans, &[Written::Recorded], 0, Some(&claimed)).await?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let conn = db::connect(&url).await.unwrap();
    let sent_under = entity::delivery::Entity::find()
        .order_by_asc(entity::delivery::Column::Openid)
        .all(&conn)
        .await
        .unwrap();
    // oE02's claim ran out and was taken again, under a token whose outcomes are in
    // this batch too: only the pair (message, token) tells them apart.
    conn.execute_unprepared("UPDATE deliveries SET claim_token = 'b-1' WHERE openid = 'oE02'")
        .await
        .unwrap();
    let outcomes: Vec<Outcome> = sent_under.into_iter().map(Outcome::sent).collect();
    let changes = [Change::Sent, Change::Sent, Change::Sent];
    writer
        .transaction(async |c| outcomes::apply(c, &outcomes, &changes, 1_796_380_510_000).await)
        .await
        .unwrap();
    let after: Vec<(String, String, Option<String>)> = entity::delivery::Entity::find()
        .order_by_asc(entity::delivery::Column::Openid)
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.openid, d.status, d.claim_token))
        .collect();
    admin
        .execute_unprepared(&format!("DROP DATABASE `{name}`"))
        .await
        .unwrap();
    let row = |openid: &str, status: &str, token: &str| {
        (openid.to_owned(), status.to_owned(), Some(token.to_owned()))
    };
    assert_eq!(
        after,
        [
            row("oE01", "sent", "a-1"),
            row("oE02", "sending", "b-1"),
            row("oE03", "sent", "b-1"),
        ]
    );
}

/// On the journal's MySQL connection sent outcomes name their messages as ranges of
/// consecutive ids (`db::batch::ranges_of`): a message between or beside them, under
/// the same claim, whose outcome is not in the batch, stays as it was.
#[tokio::test]
async fn sent_outcomes_as_ranges_mark_their_messages_and_no_neighbour() {
    let Some((admin, name, url)) = fresh_database().await else {
        return;
    };
    let writer = MySqlWriter::new(&url).await.unwrap();
    let claimed = ClaimedFor {
        token: "r-1",
        lease_until_ms: i64::MAX,
    };
    let scans: Vec<NewScan> = (1..=7)
        .map(|i| scan(&format!("oR0{i}"), 1_796_380_800))
        .collect();
    let recorded = vec![Written::Recorded; scans.len()];
    writer
        .transaction(async |c| enqueue::insert(c, &scans, &recorded, 0, Some(&claimed)).await)
        .await
        .unwrap();
    let conn = db::connect(&url).await.unwrap();
    let messages = entity::delivery::Entity::find()
        .order_by_asc(entity::delivery::Column::Id)
        .all(&conn)
        .await
        .unwrap();
    // Sent: the 2nd to 4th, the 6th and the 7th (two runs, given out of order); the
    // 1st and the 5th are still on their way.
    let outcomes: Vec<Outcome> = [6, 1, 3, 5, 2]
        .into_iter()
        .map(|i| Outcome::sent(messages[i].clone()))
        .collect();
    let changes: Vec<Change> = outcomes.iter().map(|_| Change::Sent).collect();
    writer
        .transaction(async |c| outcomes::apply(c, &outcomes, &changes, 1_796_380_801_000).await)
        .await
        .unwrap();
    let after: Vec<(String, String)> = entity::delivery::Entity::find()
        .order_by_asc(entity::delivery::Column::Id)
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.openid, d.status))
        .collect();
    admin
        .execute_unprepared(&format!("DROP DATABASE `{name}`"))
        .await
        .unwrap();
    let expected: Vec<(String, String)> =
        ["sending", "sent", "sent", "sent", "sending", "sent", "sent"]
            .iter()
            .zip(1..)
            .map(|(status, i)| (format!("oR0{i}"), (*status).to_owned()))
            .collect();
    assert_eq!(after, expected);
}

/// On the journal's MySQL connection a batch's messages take the ids its scans' insert
/// generated, and the messages handed to the worker are made from the ids read in the
/// same round trip: they must be the rows the database holds, field for field, each
/// pointing at its own scan, with the batch's duplicates, scans without an order and
/// passive replies in between, and with rows already in both tables.
#[tokio::test]
async fn the_messages_a_batch_claims_are_made_as_the_database_holds_them() {
    let Some((admin, name, url)) = fresh_database().await else {
        return;
    };
    let writer = MySqlWriter::new(&url).await.unwrap();
    let second = 1_796_380_600;
    let earlier = [scan("oF00", second), scan("oF01", second)];
    let recorded = [Written::Recorded, Written::Recorded];
    writer
        .transaction(async |c| enqueue::insert(c, &earlier, &recorded, 0, None).await)
        .await
        .unwrap();
    let mut no_order = scan("oF03", second);
    no_order.message = Message::None;
    no_order.row.order_id = None;
    let mut passive = scan("oF05", second);
    passive.message = Message::PassiveSent;
    let batch = [
        scan("oF02", second),
        no_order,
        scan("oF00", second), // stored before: a retry
        scan("oF04", second + 1),
        passive,
        scan("oF06", second + 2),
    ];
    let results = [
        Written::Recorded,
        Written::Recorded,
        Written::Duplicate,
        Written::Recorded,
        Written::Recorded,
        Written::Recorded,
    ];
    let claimed = ClaimedFor {
        token: "made-1",
        lease_until_ms: 1_796_380_700_000,
    };
    let ((), ids) = writer
        .transaction_reading(async |c| {
            enqueue::insert(c, &batch, &results, 0, Some(&claimed)).await
        })
        .await
        .unwrap();
    let queued = enqueue::queued_messages(&batch, &results);
    let made = enqueue::claimed_messages(&queued, &claimed, &ids);
    let conn = db::connect(&url).await.unwrap();
    let stored = crate::quote::outbox::claims::claimed_by(&conn, "made-1")
        .await
        .unwrap();
    let scans: Vec<(i64, String)> = entity::scan::Entity::find()
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.openid))
        .collect();
    admin
        .execute_unprepared(&format!("DROP DATABASE `{name}`"))
        .await
        .unwrap();
    let made = made.unwrap();
    let openids: Vec<&str> = made.iter().map(|m| m.openid.as_str()).collect();
    assert_eq!(
        openids,
        ["oF02", "oF04", "oF06"],
        "the batch's queued messages"
    );
    assert_eq!(made, stored, "made as the database holds them");
    for message in &made {
        let scan = scans.iter().find(|(id, _)| Some(*id) == message.scan_id);
        assert_eq!(
            scan.map(|(_, openid)| openid.as_str()),
            Some(message.openid.as_str()),
            "message {} points at its own scan",
            message.id
        );
    }
}

/// The ids are a first and a step: with the server's `auto_increment_increment` at 3
/// (as a Galera cluster of three sets it), the k-th row of an insert is k steps on.
#[tokio::test]
async fn messages_are_numbered_by_the_step_the_server_reads() {
    use sea_orm::sqlx::{self, Connection};
    let Some(url) = db::tests::mysql_url() else {
        return;
    };
    let mut conn = sqlx::mysql::MySqlConnection::connect(&url).await.unwrap();
    let mut rows = Vec::new();
    for sql in ["SELECT 101, 3", "SELECT 500, 3"] {
        rows.push(sqlx::query(sql).fetch_one(&mut conn).await.unwrap());
    }
    let batch = [scan("oG1", 1), scan("oG2", 1), scan("oG3", 1)];
    let places: Vec<(usize, &NewScan)> = vec![(0, &batch[0]), (2, &batch[2])];
    let claimed = ClaimedFor {
        token: "step-3",
        lease_until_ms: 9,
    };
    let made = enqueue::claimed_messages(&places, &claimed, &rows).unwrap();
    let ids: Vec<(i64, Option<i64>)> = made.iter().map(|m| (m.id, m.scan_id)).collect();
    assert_eq!(ids, [(500, Some(101)), (503, Some(107))]);
    let short = enqueue::claimed_messages(&places, &claimed, &rows[..1]).unwrap_err();
    assert!(
        short.to_string().contains("1 rows of ids, not 2"),
        "{short}"
    );
}
