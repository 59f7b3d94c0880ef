//! WeChat's retries on SQLite (`journal::identities`), through `write` as the journal
//! calls it: what one journal recorded, another on the same file knows; a push older
//! than memory reaches, or whose hash another shares, is found in the table; memory
//! forgets whole seconds as they fall behind; each recorded scan gets its message, and
//! no scan stored before gets another; and the migration keeps the scans it rebuilds.

use sea_orm::ConnectionTrait;

use super::super::identities::KEEP_SECS;
use super::super::memory::Memory;
use super::recent::{count, file_migrated_to, file_url, journal_on_a_file, judged_at};
use super::scan;
use crate::db::{self, Synchronous};
use crate::quote::outbox::enqueue::Written;

use Written::{Duplicate, Recorded};

fn now_secs() -> i64 {
    crate::now_ms() / 1000
}

#[tokio::test]
async fn a_push_one_journal_recorded_is_a_retry_to_another_on_the_same_file() {
    let (dir, shared, a) = journal_on_a_file().await;
    let b = db::connect_writer(&file_url(&dir), &shared, Synchronous::Full)
        .await
        .unwrap();
    let (mut ma, mut mb) = (Memory::default(), Memory::default());
    let t = now_secs();

    let first = judged_at(&a, &shared, &mut ma, &[scan("oA", t)], t).await;
    // B has read nothing yet: it learns of A's scan inside its own transaction.
    let retry = judged_at(&b, &shared, &mut mb, &[scan("oA", t), scan("oB", t)], t).await;
    // Within one batch: the second of two is the retry.
    let pair = judged_at(&a, &shared, &mut ma, &[scan("oC", t), scan("oC", t)], t).await;
    // Back at A, which must read B's scan to know it.
    let late = judged_at(&a, &shared, &mut ma, &[scan("oB", t), scan("oD", t)], t).await;
    // The same openid a second later is another push.
    let next = judged_at(&b, &shared, &mut mb, &[scan("oA", t + 1)], t + 1).await;

    assert_eq!(first, [Recorded]);
    assert_eq!(retry, [Duplicate, Recorded]);
    assert_eq!(pair, [Recorded, Duplicate]);
    assert_eq!(late, [Duplicate, Recorded]);
    assert_eq!(next, [Recorded]);
    assert_eq!(count(&shared, "SELECT COUNT(*) FROM scans").await, 5);
    assert_eq!(
        count(&shared, "SELECT COUNT(DISTINCT event_identity) FROM scans").await,
        5,
        "no push recorded twice"
    );
    assert_eq!(
        count(
            &shared,
            "SELECT COUNT(*) FROM deliveries d JOIN scans s ON s.id = d.scan_id"
        )
        .await,
        5,
        "one message for each recorded scan, none for a retry"
    );
    // Each knows what it read at the start of its last batch: all but that batch.
    assert_eq!(
        (ma.identities.remembered(), mb.identities.remembered()),
        (3, 4)
    );
}

#[tokio::test]
async fn a_push_older_than_memory_reaches_is_found_in_the_table() {
    let (_dir, shared, w) = journal_on_a_file().await;
    let mut m = Memory::default();
    let t = now_secs();
    let old = t - KEEP_SECS - 60;

    let first = judged_at(&w, &shared, &mut m, &[scan("oOld", old)], t).await;
    let remembered = m.identities.remembered();
    let retry = judged_at(
        &w,
        &shared,
        &mut m,
        &[scan("oOld", old), scan("oNew", old)],
        t,
    )
    .await;

    assert_eq!((first, retry), (vec![Recorded], vec![Duplicate, Recorded]));
    assert_eq!(remembered, 0, "a second behind the horizon is not kept");
}

#[tokio::test]
async fn a_journal_started_again_knows_the_pushes_of_the_last_half_minute() {
    let (_dir, shared, w) = journal_on_a_file().await;
    let t = now_secs();
    let mut before = Memory::default();
    judged_at(
        &w,
        &shared,
        &mut before,
        &[scan("oR", t - 5), scan("oS", t - 90)],
        t,
    )
    .await;

    let mut after = Memory::default();
    let retries = [scan("oR", t - 5), scan("oS", t - 90)];
    let judged = judged_at(&w, &shared, &mut after, &retries, t).await;

    assert_eq!(judged, [Duplicate, Duplicate]);
    assert_eq!(
        after.identities.remembered(),
        1,
        "the recent scan read at the start, the old one left to the table"
    );
}

#[tokio::test]
async fn an_identity_whose_hash_another_shares_is_found_in_the_table() {
    let (_dir, shared, w) = journal_on_a_file().await;
    let mut m = Memory::default();
    let t = now_secs();
    let two = [scan("oA", t), scan("oB", t)];
    assert_eq!(
        judged_at(&w, &shared, &mut m, &two, t).await,
        [Recorded, Recorded]
    );
    // Reads the two rows back (a batch with a scan to judge).
    judged_at(&w, &shared, &mut m, &[scan("oZ", t)], t).await;
    let id = |openid: &str| scan(openid, t).identity;
    // oA's and a new oC's hashes both lead to oB's row.
    m.identities.confuse(t, &id("oA"), &id("oB"));
    m.identities.confuse(t, &id("oC"), &id("oB"));

    let batch = [scan("oA", t), scan("oC", t), scan("oB", t)];
    let judged = judged_at(&w, &shared, &mut m, &batch, t).await;

    assert_eq!(
        judged,
        [Duplicate, Recorded, Duplicate],
        "oA's own row was found, oC is new, oB's row is oB's"
    );
}

#[tokio::test]
async fn memory_forgets_a_second_once_it_falls_behind_and_the_table_still_knows_it() {
    let (_dir, shared, w) = journal_on_a_file().await;
    let mut m = Memory::default();
    let t = now_secs();
    let early = [scan("oE", t - 10), scan("oF", t)];
    assert_eq!(
        judged_at(&w, &shared, &mut m, &early, t).await,
        [Recorded, Recorded]
    );
    judged_at(&w, &shared, &mut m, &[scan("oG", t)], t).await;
    let both = m.identities.remembered();

    // KEEP_SECS - 5 later: once a scan of that second is read, the horizon has passed
    // t - 10 but not t.
    let later = t + KEEP_SECS - 5;
    judged_at(&w, &shared, &mut m, &[scan("oH", later)], later).await;
    let retries = [scan("oE", t - 10), scan("oF", t)];
    let retry = judged_at(&w, &shared, &mut m, &retries, later).await;
    let kept = m.identities.remembered();

    assert_eq!(both, 2);
    assert_eq!(
        kept, 3,
        "t - 10's scan forgotten; t's two and the later one kept"
    );
    assert_eq!(retry, [Duplicate, Duplicate]);
}

#[tokio::test]
async fn a_push_time_ahead_of_the_clock_does_not_move_the_horizon_past_the_clock() {
    let (_dir, shared, w) = journal_on_a_file().await;
    let mut m = Memory::default();
    let t = now_secs();
    judged_at(&w, &shared, &mut m, &[scan("oNow", t)], t).await;
    // A push stamped an hour ahead.
    judged_at(&w, &shared, &mut m, &[scan("oAhead", t + 3600)], t).await;
    judged_at(&w, &shared, &mut m, &[scan("oNext", t)], t).await;

    // Read at the start of the third batch: now's scan and the one ahead.
    assert_eq!(
        m.identities.remembered(),
        2,
        "now's scan is still remembered"
    );
}

#[tokio::test]
async fn the_migration_keeps_every_scan_and_its_id_and_takes_the_unique_index_back_down() {
    use migration::MigratorTrait;
    let (_dir, shared) = file_migrated_to(13).await;
    let insert = |id: i64, identity: &str| {
        format!(
            "INSERT INTO scans (id, event_identity, openid, event, scene, qr_code_id, \
             order_id, event_time, received_at_ms) \
             VALUES ({id}, '{identity}', 'o', 'SCAN', '1', NULL, 1, 100, 100000)"
        )
    };
    for sql in [
        insert(5, "a"),
        insert(9, "b"),
        "DELETE FROM scans WHERE id = 9".into(),
    ] {
        shared.execute_unprepared(&sql).await.unwrap();
    }

    migration::Migrator::up(&shared, Some(1)).await.unwrap();
    let kept = count(&shared, "SELECT id FROM scans WHERE event_identity = 'a'").await;
    let indexes = count(
        &shared,
        "SELECT COUNT(*) FROM sqlite_master WHERE tbl_name = 'scans' AND type = 'index' \
         AND name IN ('idx_scans_event_time', 'idx_scans_qr_code')",
    )
    .await;
    let autoindex = count(
        &shared,
        "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'sqlite_autoindex_scans%'",
    )
    .await;
    // Ids go on after the highest given, though its row is gone.
    shared
        .execute_unprepared(&insert(0, "c").replace("(0, ", "(NULL, "))
        .await
        .unwrap();
    let next = count(&shared, "SELECT id FROM scans WHERE event_identity = 'c'").await;
    // Twice the same identity, as only a retry recorded twice could leave it.
    shared.execute_unprepared(&insert(20, "a")).await.unwrap();
    migration::Migrator::down(&shared, Some(1)).await.unwrap();
    let back = count(
        &shared,
        "SELECT COUNT(*) FROM scans WHERE event_identity = 'a'",
    )
    .await;
    let unique_again = count(
        &shared,
        "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'sqlite_autoindex_scans%'",
    )
    .await;

    assert_eq!((kept, indexes, autoindex), (5, 2, 0));
    assert_eq!(next, 10);
    assert_eq!((back, unique_again), (1, 1));
}
