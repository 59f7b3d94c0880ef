use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};

use super::*;
use crate::db::{is_duplicate, is_retryable};

async fn opened() -> (tempfile::TempDir, Dedicated) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("d.db").display());
    let own = Dedicated::open(&url, Synchronous::Full).unwrap();
    own.batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER, f INTEGER)")
        .unwrap();
    (dir, own)
}

/// A database whose table holds one row, named `a`.
async fn holding_a() -> (tempfile::TempDir, Dedicated) {
    let (dir, own) = opened().await;
    own.transaction(async |c| c.run(&insert(Some("a"), 1, true)).await)
        .await
        .unwrap();
    (dir, own)
}

fn insert(name: Option<&str>, n: i32, f: bool) -> sea_orm::sea_query::InsertStatement {
    Query::insert()
        .into_table(Alias::new("t"))
        .columns([Alias::new("name"), Alias::new("n"), Alias::new("f")])
        .values_panic([name.into(), n.into(), f.into()])
        .to_owned()
}

fn all(own: &Dedicated) -> Vec<(Option<String>, i64, bool)> {
    let select = Query::select()
        .columns([Alias::new("name"), Alias::new("n"), Alias::new("f")])
        .from(Alias::new("t"))
        .and_where(Expr::col(Alias::new("n")).gte(0))
        .to_owned();
    own.rows(&select, |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
}

#[tokio::test]
async fn values_are_stored_as_sqlx_would_store_them() {
    let (_dir, own) = opened().await;
    let changed = own
        .transaction(async |c| {
            let a = c.run(&insert(Some("甲"), 7, true)).await?;
            let b = c.run(&insert(None, -1, false)).await?;
            Ok(a + b)
        })
        .await
        .unwrap();
    assert_eq!(changed, 2);
    assert_eq!(all(&own), [(Some("甲".to_owned()), 7, true)], "n ≥ 0 only");
}

#[tokio::test]
async fn a_failed_transaction_leaves_nothing_and_says_why() {
    let (_dir, own) = holding_a().await;
    let again = own
        .transaction(async |c| {
            c.run(&insert(Some("b"), 2, true)).await?;
            c.run(&insert(Some("a"), 3, true)).await
        })
        .await
        .unwrap_err();
    assert!(is_duplicate(&again), "{again}");
    assert!(!is_retryable(&again), "{again}");
    assert_eq!(
        all(&own),
        [(Some("a".to_owned()), 1, true)],
        "b rolled back"
    );
    // The connection is usable again: no transaction was left open.
    own.transaction(async |c| c.run(&insert(Some("c"), 4, false)).await)
        .await
        .unwrap();
    assert_eq!(all(&own).len(), 2);
}

#[tokio::test]
async fn a_conflict_named_by_on_conflict_is_still_skipped_and_the_rest_go_on() {
    let (_dir, own) = holding_a().await;
    let mut again = insert(Some("a"), 2, true);
    again.on_conflict(
        OnConflict::column(Alias::new("name"))
            .do_nothing()
            .to_owned(),
    );
    let changed = own
        .transaction(async |c| {
            let skipped = c.run(&again).await?;
            let added = c.run(&insert(Some("b"), 3, false)).await?;
            Ok(skipped + added)
        })
        .await
        .unwrap();
    assert_eq!(changed, 1);
    assert_eq!(all(&own).len(), 2, "a kept once, b added");
}

#[test]
fn writes_end_the_transaction_on_a_failed_constraint_and_reads_are_left_alone() {
    assert_eq!(
        rolling_back(r#"INSERT INTO "t" ("a") VALUES (?)"#),
        r#"INSERT OR ROLLBACK INTO "t" ("a") VALUES (?)"#
    );
    assert_eq!(
        rolling_back(r#"UPDATE "t" SET "a" = ?"#),
        r#"UPDATE OR ROLLBACK "t" SET "a" = ?"#
    );
    let select = r#"SELECT "a" FROM "t""#;
    assert_eq!(rolling_back(select), select);
}

#[test]
fn a_busy_or_locked_database_is_retryable() {
    for code in [5, 6, 261, 517] {
        let e = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        assert!(is_retryable(&exec_err(&e)), "{code}");
    }
    let syntax = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(1), None);
    assert!(!is_retryable(&exec_err(&syntax)));
}

static NAMED: crate::db::shaped::Site = crate::db::shaped::Site("named");

/// Queues the insert of `name` and `n` as a statement of one shape, counting the times
/// it is built.
async fn named(
    c: &Dedicated,
    params: &[Param<'_>],
    (name, n): (&str, i64),
    built: &std::sync::atomic::AtomicUsize,
) -> Result<(), DbErr> {
    c.queue_shaped(Shape::new(&NAMED, 0), params, || {
        built.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Query::insert()
            .into_table(Alias::new("t"))
            .columns([Alias::new("name"), Alias::new("n")])
            .values_panic([name.into(), n.into()])
            .to_owned()
    })
    .await
}

#[tokio::test]
async fn a_shaped_statement_is_built_once_and_binds_each_calls_values() {
    let (_dir, own) = opened().await;
    let built = std::sync::atomic::AtomicUsize::new(0);
    own.transaction(async |c| {
        named(c, &["甲".into(), 7.into()], ("甲", 7), &built).await?;
        // Built again, it would carry these values; it is not.
        named(c, &["乙".into(), 8.into()], ("x", 0), &built).await?;
        named(c, &[Param::Text(None), Param::Int(None)], ("x", 0), &built).await
    })
    .await
    .unwrap();
    assert_eq!(built.into_inner(), 1);
    let rows: Vec<(Option<String>, Option<i64>)> = own
        .rows(
            &Query::select()
                .columns([Alias::new("name"), Alias::new("n")])
                .from(Alias::new("t"))
                .order_by(Alias::new("id"), sea_orm::Order::Asc)
                .to_owned(),
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        rows,
        [
            (Some("甲".to_owned()), Some(7)),
            (Some("乙".to_owned()), Some(8)),
            (None, None)
        ]
    );
}

#[tokio::test]
async fn a_shaped_statement_given_its_values_in_another_order_is_refused() {
    let (_dir, own) = opened().await;
    let built = std::sync::atomic::AtomicUsize::new(0);
    let refused = own
        .transaction(async |c| {
            c.run(&insert(Some("a"), 1, true)).await?;
            named(c, &[7.into(), "甲".into()], ("甲", 7), &built).await
        })
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("not in the order given"),
        "{refused}"
    );
    assert!(all(&own).is_empty(), "the transaction rolled back");
    // Nothing was kept of it: given rightly, it is built again and runs.
    own.transaction(async |c| named(c, &["甲".into(), 7.into()], ("甲", 7), &built).await)
        .await
        .unwrap();
    assert_eq!(built.into_inner(), 2);
}

#[tokio::test]
async fn a_shaped_statement_given_fewer_or_more_values_than_its_text_takes_is_refused() {
    let (_dir, own) = opened().await;
    let built = std::sync::atomic::AtomicUsize::new(0);
    own.transaction(async |c| named(c, &["甲".into(), 7.into()], ("甲", 7), &built).await)
        .await
        .unwrap();
    for params in [&["乙".into()][..], &["乙".into(), 8.into(), 9.into()]] {
        let refused = own
            .transaction(async |c| {
                c.run(&insert(Some("b"), 2, true)).await?;
                named(c, params, ("x", 0), &built).await
            })
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("values given"), "{refused}");
    }
    assert_eq!(built.into_inner(), 1, "the kept text, not built again");
    let names: Vec<Option<String>> = own
        .rows(
            &Query::select()
                .column(Alias::new("name"))
                .from(Alias::new("t"))
                .to_owned(),
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(
        names,
        [Some("甲".to_owned())],
        "both transactions rolled back"
    );
}
