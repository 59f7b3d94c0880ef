//! SQLite's checkpoints, off the journal's thread.
//!
//! In WAL mode a commit appends pages to the WAL, and a checkpoint copies them back
//! into the database file and syncs it. By default the connection that commits runs
//! the checkpoint itself, inline, once the WAL holds 1,000 pages: on the journal's
//! connection that meant every few hundred milliseconds under load, one batch held up
//! while a few megabytes were copied and the database file fsynced, and the pushes
//! waiting behind it answered late (the paced bench's p99).
//!
//! Here a thread of its own, with a connection of its own, copies the pages soon after
//! they are committed, without waiting for or blocking the writer (a `PASSIVE`
//! checkpoint). The writer keeps a checkpoint of its own, at [`WRITER_CHECKPOINT_PAGES`]:
//! a background checkpoint never finishes while commits keep coming, and only a
//! checkpoint that leaves nothing behind lets the WAL start over; the writer's finds
//! almost everything copied already, and when it finds this thread checkpointing it
//! skips its turn rather than wait.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use super::Synchronous;

/// WAL pages after which the writer checkpoints inline (SQLite's default is 1,000),
/// which starts the WAL over once every page is copied. Higher than the default:
/// the background checkpoint copies as they come, and what the writer finds left to
/// copy is what came since its last pass.
pub const WRITER_CHECKPOINT_PAGES: u32 = 4_000;

/// After a commit, how long further commits may gather before one checkpoint copies
/// them all. Each checkpoint that copies something syncs the database file, so more
/// often costs CPU; less often leaves more to sync at once, beside the WAL's own syncs,
/// and more for the writer's checkpoint to copy. The bench's paced p99 on SQLite, runs
/// interleaved: without this thread 4.5–5.9 ms (12 runs); at 100 ms (10 near the
/// writer's checkpoint) 4.6–5.4 (4); at 20 ms 2.7–4.4 (8); at 5 ms 3.0–3.5 (4), with
/// about 10% more CPU per push than at 20.
const GATHER: Duration = Duration::from_millis(20);

/// Pages of cache for the checkpointer's connection (a checkpoint copies through a
/// buffer of its own, not the cache).
const CACHE_PAGES: i64 = 16;

/// The handle: told of each commit, and the thread ends when it is dropped.
pub struct Checkpointer {
    commits: SyncSender<()>,
}

impl Checkpointer {
    /// Starts the thread, with its own connection to the database file at `path`.
    pub fn spawn(path: &std::path::Path, sync: Synchronous) -> anyhow::Result<Checkpointer> {
        let conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "synchronous", sync.pragma())?;
        conn.pragma_update(None, "cache_size", CACHE_PAGES)?;
        // A checkpoint never waits for a lock: it copies what it can and comes back.
        conn.busy_timeout(Duration::ZERO)?;
        let (commits, committed) = sync_channel(1);
        std::thread::Builder::new()
            .name("checkpointer".into())
            .spawn(move || run(&conn, &committed))?;
        Ok(Checkpointer { commits })
    }

    /// Something was committed: there will be pages to copy. Never waits. A full
    /// channel means the thread was told already and has not looked yet; a closed one,
    /// that it ended (only a panic ends it), and the writer's own checkpoint still
    /// keeps the WAL in bounds: either way there is nothing more to do.
    pub fn committed(&self) {
        let _ = self.commits.try_send(());
    }
}

/// Until the handle is dropped: after each commit, let others gather, then copy.
fn run(conn: &rusqlite::Connection, committed: &Receiver<()>) {
    let mut warned = false;
    while committed.recv().is_ok() {
        std::thread::sleep(GATHER);
        while committed.try_recv().is_ok() {}
        match checkpoint(conn) {
            Ok(()) => warned = false,
            // Said once per run of failures: the writer's checkpoint still works, and
            // a disk that refuses writes is told by the commits themselves.
            Err(e) if !warned => {
                warned = true;
                tracing::warn!(error = %e, "background checkpoint failed");
            }
            Err(_) => {}
        }
    }
}

/// One `PASSIVE` checkpoint: copies every page no reader still needs.
fn checkpoint(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    // It answers (busy, pages in the WAL, pages copied); busy is 1 when another
    // checkpoint was running (the writer's), which is no failure.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

#[cfg(test)]
mod tests;
