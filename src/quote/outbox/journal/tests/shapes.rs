//! A batch's multi-row statements, whatever its size: in a few shapes where statements
//! are kept prepared by their text (each shape is prepared once), in one statement
//! where the session numbers the scans' rows (the messages take their ids from it);
//! and every row written either way.

use std::collections::BTreeSet;
use std::sync::Mutex;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, StatementBuilder};

use super::recent::{journal_on_a_file, judged, signed};
use crate::db::Execute;
use crate::quote::outbox::enqueue::{self, NewScan, Written};
use crate::quote::outbox::journal::recent::Recent;

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
    enqueue::insert(&recorder, &scans, &vec![Written::Recorded; n], None)
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
    let written = judged(&writer, &shared, &mut Recent::default(), &scans).await;
    assert_eq!(written, vec![Written::Recorded; 27]);
    let count = async |sql: &str| -> i64 {
        let row = shared
            .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index(0).unwrap()
    };
    assert_eq!(count("SELECT COUNT(*) FROM scans").await, 27);
    assert_eq!(count("SELECT COUNT(*) FROM push_signatures").await, 27);
    assert_eq!(count("SELECT COUNT(*) FROM deliveries").await, 27);
    // Each message is its own scan's.
    let joined = "SELECT COUNT(*) FROM deliveries d JOIN scans s ON s.id = d.scan_id \
                  AND s.openid = d.openid";
    assert_eq!(count(joined).await, 27);
}
