//! The replay guard on SQLite (`journal::recent`), through `write` as the journal
//! calls it: what one journal wrote, another on the same file knows; a signature whose
//! hash another shares is still found; what the sweeper removes goes in order, and
//! from memory within a second.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use super::super::memory::Memory;
use super::super::write::{Batch, write};
use super::scan;
use crate::db::{self, Synchronous, Writer};
use crate::quote::outbox::enqueue::{NewScan, Seen, Written};

/// A migrated SQLite database at `url` (a file in `dir`, or in memory): its shared pool.
pub(super) async fn migrated(url: &str) -> DatabaseConnection {
    let shared = db::connect(url).await.unwrap();
    db::migrate(&shared).await.unwrap();
    shared
}

pub(super) fn file_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display())
}

/// A SQLite file (gone with the directory) migrated as far as migration `n`.
pub(super) async fn file_migrated_to(n: u32) -> (tempfile::TempDir, DatabaseConnection) {
    use migration::MigratorTrait;
    let dir = tempfile::tempdir().unwrap();
    let shared = db::connect(&file_url(&dir)).await.unwrap();
    migration::Migrator::up(&shared, Some(n)).await.unwrap();
    (dir, shared)
}

/// A migrated SQLite file (gone with the directory): its shared pool and a journal's
/// connection to it.
pub(super) async fn journal_on_a_file() -> (tempfile::TempDir, DatabaseConnection, Writer) {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(&dir);
    let shared = migrated(&url).await;
    let w = db::connect_writer(&url, &shared, Synchronous::Full)
        .await
        .unwrap();
    assert!(
        matches!(w, Writer::Dedicated(_)),
        "a file gets the journal's own connection"
    );
    (dir, shared, w)
}

/// `openid`'s scan in second `t`, pushed with `signature` over a body hashed `body`.
pub(super) fn signed(openid: &str, t: i64, signature: &str, body: &str) -> NewScan {
    let mut s = scan(openid, t);
    s.seen = Some(Seen {
        signature: signature.into(),
        body_sha256: body.into(),
    });
    s
}

/// How the journal of `writer` (its memory `memory`) writes `scans` as one batch.
pub(super) async fn judged(
    writer: &Writer,
    shared: &DatabaseConnection,
    memory: &mut Memory,
    scans: &[NewScan],
) -> Vec<Written> {
    judged_at(writer, shared, memory, scans, crate::now_ms() / 1000).await
}

/// [`judged`], the batch written at `now_secs`.
pub(super) async fn judged_at(
    writer: &Writer,
    shared: &DatabaseConnection,
    memory: &mut Memory,
    scans: &[NewScan],
    now_secs: i64,
) -> Vec<Written> {
    let b = Batch {
        scans,
        claimed: None,
        outcomes: &[],
        changes: &[],
        claims: &[],
        now: now_secs * 1000,
    };
    write(writer, shared, memory, &b).await.unwrap().0
}

/// One integer `sql` reads.
pub(super) async fn count(shared: &DatabaseConnection, sql: &str) -> i64 {
    let row = shared
        .query_one_raw(Statement::from_string(shared.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

/// The rows of two columns `sql` reads.
pub(super) async fn pairs<T: sea_orm::TryGetable>(
    shared: &DatabaseConnection,
    sql: &str,
) -> Vec<(i64, T)> {
    let rows = shared
        .query_all_raw(Statement::from_string(shared.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get_by_index(0).unwrap(),
                r.try_get_by_index(1).unwrap(),
            )
        })
        .collect()
}

async fn signatures(shared: &DatabaseConnection) -> Vec<(i64, String)> {
    pairs(
        shared,
        "SELECT id, signature FROM push_signatures ORDER BY id",
    )
    .await
}

use Written::{Duplicate, Recorded, Replayed};

#[tokio::test]
async fn a_signature_one_journal_wrote_is_known_to_another_on_the_same_file() {
    let (dir, shared, a) = journal_on_a_file().await;
    let b = db::connect_writer(&file_url(&dir), &shared, Synchronous::Full)
        .await
        .unwrap();
    let (mut ra, mut rb) = (Memory::default(), Memory::default());

    let first = judged(&a, &shared, &mut ra, &[signed("oA", 100, "s1", "b1")]).await;
    // B has read nothing yet: it learns of A's row inside its own transaction.
    let replay = judged(&b, &shared, &mut rb, &[signed("oB", 100, "s1", "b2")]).await;
    let retry = judged(&b, &shared, &mut rb, &[signed("oA", 100, "s1", "b1")]).await;
    // Within one batch, as before: the second body of one query is a forgery.
    let pair = [signed("oC", 101, "s2", "x"), signed("oD", 101, "s2", "y")];
    let both = judged(&a, &shared, &mut ra, &pair).await;
    // A third body, at the journal that wrote the first: refused as well.
    let late = judged(&a, &shared, &mut ra, &[signed("oE", 102, "s1", "b3")]).await;

    assert_eq!(first, [Recorded]);
    assert_eq!(replay, [Replayed]);
    assert_eq!(retry, [Duplicate]);
    assert_eq!(both, [Recorded, Replayed]);
    assert_eq!(late, [Replayed]);
    let kept: Vec<String> = signatures(&shared).await.into_iter().map(|r| r.1).collect();
    assert_eq!(
        kept,
        ["s1", "s2"],
        "one row a query, in the order they came"
    );
}

#[tokio::test]
async fn an_in_memory_database_judges_signatures_the_same_way() {
    let url = "sqlite::memory:";
    let shared = migrated(url).await;
    let w = db::connect_writer(url, &shared, Synchronous::Full)
        .await
        .unwrap();
    assert!(matches!(w, Writer::Pool(_)));
    let mut r = Memory::default();

    let first = judged(&w, &shared, &mut r, &[signed("oA", 100, "s1", "b1")]).await;
    let replay = judged(&w, &shared, &mut r, &[signed("oB", 100, "s1", "b2")]).await;
    let retry = judged(&w, &shared, &mut r, &[signed("oA", 100, "s1", "b1")]).await;

    assert_eq!(
        (first, replay, retry),
        (vec![Recorded], vec![Replayed], vec![Duplicate])
    );
}

#[tokio::test]
async fn a_signature_whose_hash_another_shares_is_found_in_the_table() {
    let (_dir, shared, w) = journal_on_a_file().await;
    let mut r = Memory::default();
    let two = [signed("oA", 100, "s1", "b1"), signed("oB", 100, "s2", "b2")];
    assert_eq!(
        judged(&w, &shared, &mut r, &two).await,
        [Recorded, Recorded]
    );
    // Reads the two rows back (a batch with a signature to judge).
    judged(&w, &shared, &mut r, &[signed("oZ", 100, "s0", "b0")]).await;
    r.signatures.confuse("s1", "s2");

    let replay = judged(&w, &shared, &mut r, &[signed("oC", 100, "s1", "forged")]).await;
    let fresh = judged(&w, &shared, &mut r, &[signed("oD", 100, "s3", "b3")]).await;

    assert_eq!(replay, [Replayed], "s1's own row was found, not s2's");
    assert_eq!(fresh, [Recorded]);
}

#[tokio::test]
async fn swept_signatures_go_in_order_and_from_memory_within_a_second() {
    let (_dir, shared, w) = journal_on_a_file().await;
    let mut r = Memory::default();
    // Received at 100, 200 and 300 s (`scan` receives in its event's second).
    for (t, s) in [(100, "s1"), (200, "s2"), (300, "s3")] {
        let one = [signed(&format!("o{t}"), t, s, "b")];
        assert_eq!(judged(&w, &shared, &mut r, &one).await, [Recorded]);
    }
    judged(&w, &shared, &mut r, &[signed("o301", 301, "s", "b")]).await;
    assert_eq!(r.signatures.remembered(), 3, "the three before it");

    // Keep 50 s at 300 s: those received before 250 s go.
    let swept = crate::quote::sweeper::sweep(&shared, 50_000, 300_000)
        .await
        .unwrap();
    let left = signatures(&shared).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    judged(&w, &shared, &mut r, &[signed("o302", 302, "t", "b")]).await;
    let remembered = r.signatures.remembered();
    // Everything goes; ids still grow after, so the next row is read.
    crate::quote::sweeper::sweep(&shared, 0, 1_000_000)
        .await
        .unwrap();
    let emptied = signatures(&shared).await;
    // A second on, the next batch finds the table empty: memory forgets it all.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let next = judged(&w, &shared, &mut r, &[signed("o400", 400, "s4", "b")]).await;
    let forgotten = r.signatures.remembered();
    let replay = judged(&w, &shared, &mut r, &[signed("oX", 400, "s4", "forged")]).await;
    let after = signatures(&shared).await;

    assert_eq!(swept, 2);
    assert_eq!(
        left.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["s3", "s"]
    );
    assert_eq!(
        remembered, 2,
        "memory forgot the swept rows: s3 and s are left"
    );
    assert!(emptied.is_empty());
    assert_eq!(forgotten, 0, "an empty table leaves nothing to remember");
    assert_eq!((next, replay), (vec![Recorded], vec![Replayed]));
    assert!(
        after[0].0 > left[0].0,
        "an id is never given twice: {after:?} after {left:?}"
    );
}

#[tokio::test]
async fn the_migration_keeps_the_signatures_held_before_it_in_the_order_they_came() {
    use migration::MigratorTrait;
    let (_dir, shared) = file_migrated_to(12).await;
    shared
        .execute_unprepared(
            "INSERT INTO push_signatures (signature, body_sha256, received_at_ms) \
             VALUES ('late', 'b2', 2000), ('early', 'b1', 1000)",
        )
        .await
        .unwrap();

    migration::Migrator::up(&shared, Some(1)).await.unwrap();
    let up = signatures(&shared).await;
    migration::Migrator::down(&shared, Some(1)).await.unwrap();
    let back = shared
        .query_all_raw(Statement::from_string(
            shared.get_database_backend(),
            "SELECT signature FROM push_signatures ORDER BY received_at_ms",
        ))
        .await
        .unwrap();

    assert_eq!(up, [(1, "early".to_owned()), (2, "late".to_owned())]);
    assert_eq!(back.len(), 2);
}
