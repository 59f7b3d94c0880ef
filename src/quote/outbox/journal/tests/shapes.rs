//! A batch's multi-row statements, whatever its size: in a few shapes where statements
//! are kept prepared by their text (each shape is prepared once), in one statement
//! where the session numbers the scans' rows (the messages take their ids from it);
//! and every row written either way, on the journal's SQLite connection as through a
//! pool.

use std::collections::BTreeSet;
use std::sync::Mutex;

use sea_orm::{DbBackend, DbErr, StatementBuilder};

use entity::{delivery, push_signature, scan};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};

use super::super::write::{Batch, write};
use super::recent::{count, journal_on_a_file, judged, signed};
use crate::db::{self, Execute, Synchronous, Writer};
use crate::quote::outbox::claims;
use crate::quote::outbox::enqueue::{self, ClaimedFor, Message, NewScan, Written};
use crate::quote::outbox::journal::memory::Memory;
use crate::quote::outbox::outcomes::Outcome;
use crate::quote::outbox::retry::Change;

/// Keeps the text of each statement it is given, and runs none.
struct Recorder {
    numbered: bool,
    sql: Mutex<Vec<String>>,
}

impl Execute for Recorder {
    async fn run<S: StatementBuilder + Sync>(&self, statement: &S) -> Result<u64, DbErr> {
        let backend = if self.numbered {
            DbBackend::MySql
        } else {
            DbBackend::Sqlite
        };
        self.sql.lock().unwrap().push(statement.build(&backend).sql);
        Ok(0)
    }

    fn keeps_prepared(&self) -> bool {
        !self.numbered
    }

    fn numbers_in_session(&self) -> bool {
        self.numbered
    }
}

fn batch(n: usize) -> Vec<NewScan> {
    (0..n)
        .map(|i| signed(&format!("o{i}"), 100, &format!("s{i}"), "b"))
        .collect()
}

/// The rows of each insert into `table` that `recorder` was given.
fn inserts(recorder: &Recorder, table: &str) -> Vec<(String, usize)> {
    let (sqlite, mysql) = (
        format!("INSERT INTO \"{table}\" "),
        format!("INSERT INTO `{table}` "),
    );
    let sql = recorder.sql.lock().unwrap();
    sql.iter()
        .filter(|s| s.starts_with(&sqlite) || s.starts_with(&mysql))
        .map(|s| (s.clone(), s.matches("), (").count() + 1))
        .collect()
}

async fn recorded(numbered: bool, n: usize) -> Recorder {
    let recorder = Recorder {
        numbered,
        sql: Mutex::new(Vec::new()),
    };
    let scans = batch(n);
    enqueue::insert(&recorder, &scans, &vec![Written::Recorded; n], 0, None)
        .await
        .unwrap();
    recorder
}

#[tokio::test]
async fn where_statements_are_kept_prepared_batches_of_any_size_take_a_few_shapes() {
    let mut shapes = BTreeSet::new();
    for n in 1..=40 {
        let recorder = recorded(false, n).await;
        for table in ["scans", "push_signatures"] {
            let runs = inserts(&recorder, table);
            assert_eq!(runs.iter().map(|r| r.1).sum::<usize>(), n, "{table}, {n}");
            for (sql, rows) in runs {
                assert!(rows.is_power_of_two(), "{table}, {n}: {rows} rows");
                shapes.insert(sql);
            }
        }
    }
    // 1, 2, 4, 8, 16 and 32 rows, for each table: not one shape per batch size.
    assert_eq!(shapes.len(), 12, "{shapes:#?}");
}

#[tokio::test]
async fn where_the_session_numbers_rows_a_batch_of_scans_is_one_statement() {
    // Past `MAX_CHUNK` (256) too, up to a whole batch: a text statement's runs would
    // split it there.
    for n in [1, 3, 26, 300, 512] {
        let recorder = recorded(true, n).await;
        let scans: Vec<usize> = inserts(&recorder, "scans").iter().map(|r| r.1).collect();
        assert_eq!(scans, [n]);
    }
}

#[tokio::test]
async fn a_batch_split_into_runs_writes_every_scan_signature_and_message() {
    let (_dir, shared, writer) = journal_on_a_file().await;
    let scans = batch(27);
    let written = judged(&writer, &shared, &mut Memory::default(), &scans).await;
    assert_eq!(written, vec![Written::Recorded; 27]);
    assert_eq!(count(&shared, "SELECT COUNT(*) FROM scans").await, 27);
    assert_eq!(
        count(&shared, "SELECT COUNT(*) FROM push_signatures").await,
        27
    );
    assert_eq!(count(&shared, "SELECT COUNT(*) FROM deliveries").await, 27);
    // Each message is its own scan's.
    let joined = "SELECT COUNT(*) FROM deliveries d JOIN scans s ON s.id = d.scan_id \
                  AND s.openid = d.openid";
    assert_eq!(count(&shared, joined).await, 27);
}

/// Writes, through `writer`, the batches that make every statement the journal's
/// connection keeps by shape: scans and signatures in runs, messages claimed, pending
/// and sent as passive replies, and the sent outcomes of the claimed ones. What the
/// database then holds.
async fn every_shape(
    writer: &Writer,
    shared: &DatabaseConnection,
) -> (
    Vec<scan::Model>,
    Vec<push_signature::Model>,
    Vec<delivery::Model>,
) {
    let mut memory = Memory::default();
    let at = 1_796_380_800;
    let mut no_order = signed("oS02", at, "s02", "b02");
    no_order.message = Message::None;
    no_order.row.order_id = None;
    let mut passive = signed("oS03", at, "s03", "b03");
    passive.message = Message::PassiveSent;
    let claimed_scans = [
        signed("oS00", at, "s00", "b00"),
        signed("oS01", at, "s01", "b01"),
        no_order,
        passive,
        signed("oS04", at, "s04", "b04"),
    ];
    let pending_scans: Vec<NewScan> = (5..8)
        .map(|i| signed(&format!("oS0{i}"), at + 1, &format!("s0{i}"), "b"))
        .collect();
    let claim = ClaimedFor {
        token: "shape-1",
        lease_until_ms: 1_796_380_900_000,
    };
    let batch = |scans, claimed| Batch {
        scans,
        claimed,
        outcomes: &[],
        changes: &[],
        claims: &[],
        now: 1_796_380_801_000,
    };
    let claimed = batch(&claimed_scans, Some(&claim));
    let written = write(writer, shared, &mut memory, &claimed).await.unwrap();
    assert_eq!(written.0, vec![Written::Recorded; 5]);
    let pending = batch(&pending_scans, None);
    let written = write(writer, shared, &mut memory, &pending).await.unwrap();
    assert_eq!(written.0, vec![Written::Recorded; 3]);
    let outcomes: Vec<Outcome> = claims::claimed_by(shared, "shape-1")
        .await
        .unwrap()
        .into_iter()
        .map(Outcome::sent)
        .collect();
    assert_eq!(outcomes.len(), 3, "oS00, oS01 and oS04's messages");
    let changes: Vec<Change> = outcomes.iter().map(|_| Change::Sent).collect();
    let sent = Batch {
        outcomes: &outcomes,
        changes: &changes,
        now: 1_796_380_802_000,
        ..batch(&[], None)
    };
    write(writer, shared, &mut memory, &sent).await.unwrap();
    (
        scan::Entity::find()
            .order_by_asc(scan::Column::Id)
            .all(shared)
            .await
            .unwrap(),
        push_signature::Entity::find()
            .order_by_asc(push_signature::Column::Signature)
            .all(shared)
            .await
            .unwrap(),
        delivery::Entity::find()
            .order_by_asc(delivery::Column::Id)
            .all(shared)
            .await
            .unwrap(),
    )
}

/// The journal's SQLite connection makes each shaped statement's text once and binds
/// the values where they are kept (`db::shaped`); a pool runs the statement sea-orm
/// builds, values and all. Both must store the same rows.
#[tokio::test]
async fn the_journals_connection_stores_what_a_pool_stores_from_the_same_batches() {
    let (_dir, shared, dedicated) = journal_on_a_file().await;
    let ours = every_shape(&dedicated, &shared).await;
    let memory = db::connect("sqlite::memory:").await.unwrap();
    db::migrate(&memory).await.unwrap();
    let pool = db::connect_writer("sqlite::memory:", &memory, Synchronous::Full)
        .await
        .unwrap();
    assert!(matches!(pool, Writer::Pool(_)));
    let theirs = every_shape(&pool, &memory).await;
    assert_eq!(ours.0, theirs.0, "scans");
    assert_eq!(ours.1, theirs.1, "signatures");
    assert_eq!(ours.2, theirs.2, "deliveries");
    // The queued messages are made first, then the passive replies'.
    let statuses: Vec<(&str, Option<&str>)> = ours
        .2
        .iter()
        .map(|d| (d.status.as_str(), d.claim_token.as_deref()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("sent", Some("shape-1")),
            ("sent", Some("shape-1")),
            ("sent", Some("shape-1")),
            ("sent", Some("passive-reply")),
            ("pending", None),
            ("pending", None),
            ("pending", None),
        ]
    );
}
