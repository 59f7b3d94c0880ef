//! The durable floor: the floor's push (answer `success`, send one message) plus the
//! least that any implementation keeping the promise must write, and nothing
//! else. Each push is recorded under its unique identity and committed before it is
//! answered, and its send's outcome is recorded after, both group-committed by one
//! writer on a thread of its own: on SQLite in WAL mode at the service's
//! `SQLITE_SYNCHRONOUS`; on MySQL through scanquote's own journal connection
//! (`db::mysql_writer`: a batch in one round trip), at the server's own flush setting.
//! No signature, no parsing, no order, no card: what it costs over the floor is what
//! durability costs on this machine, written the cheapest way found so far (each
//! cheaper way found is made its way too, as its identity's order was).
//!
//! With `--rows design` it writes instead the least the design's own rules ask of any
//! implementation (`DESIGN.md`: "the scan is recorded and the message enqueued in one
//! transaction", "outbox claims go through the database"): a scan row under its unique
//! identity and, in the same transaction, its message in an outbox indexed by status
//! and due time (what any worker finds due messages by; one message per scan, so keyed
//! by its scan), and after the send that message's status, which moves its entry in
//! that index. Its gap to the durable floor is what the design's two rows cost over
//! one; scanquote's gap to it is what the rest of scanquote costs (the replay guard,
//! the indexes the console and the shop API read by, the signature, the parsing, the
//! card).

use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::post;
use scanquote::db::Execute;
use scanquote::db::mysql_writer::MySqlWriter;
use scanquote::now_ms;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

/// Entries per transaction at most, as scanquote's journal.
const MAX_BATCH: usize = 512;

enum Entry {
    /// A push's identity; answered once committed, with its row's id where the writer
    /// knows it (SQLite).
    Push(String, oneshot::Sender<Option<i64>>),
    /// A push whose message was sent: its identity, and its row's id if known.
    Sent(String, Option<i64>),
}

/// What is written for each push.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Rows {
    /// One row: the push, under its unique identity, marked sent after its send.
    Push,
    /// The design's rows: the scan, and its message in an outbox indexed by status
    /// and due time, marked sent after its send.
    Design,
}

/// A batch taken apart: the pushes to record, their callers, the sends to mark.
#[derive(Default)]
struct Batch {
    pushes: Vec<String>,
    replies: Vec<oneshot::Sender<Option<i64>>>,
    sent: Vec<(String, Option<i64>)>,
}

impl Batch {
    /// `first` and whatever else is waiting, up to [`MAX_BATCH`].
    fn gather(first: Entry, rx: &mut mpsc::Receiver<Entry>) -> Batch {
        let mut batch = Batch::default();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(entry) = next {
            match entry {
                Entry::Push(identity, reply) => {
                    batch.pushes.push(identity);
                    batch.replies.push(reply);
                }
                Entry::Sent(identity, row) => batch.sent.push((identity, row)),
            }
            taken += 1;
            next = (taken < MAX_BATCH).then(|| rx.try_recv().ok()).flatten();
        }
        batch
    }

    /// Answers the batch's pushes once it is committed. On failure they are dropped
    /// unanswered, and the handler answers them "".
    fn finish(self, written: Result<Vec<Option<i64>>, String>) {
        match written {
            Ok(rows) => self.replies.into_iter().zip(rows).for_each(|(r, row)| {
                let _ = r.send(row);
            }),
            Err(e) => eprintln!("durable floor: a batch failed: {e}"),
        }
    }
}

#[derive(Clone)]
struct Floor {
    journal: mpsc::Sender<Entry>,
    http: reqwest::Client,
    url: String,
}

/// Serves the durable floor, writing `rows` for each push, on the database at `db`: a
/// `sqlite://` file, written by a thread of its own as scanquote's journal does, or a
/// `mysql://` database, by a task.
pub async fn serve_durable_forwarder(api: String, db: String, rows: Rows) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel(2 * MAX_BATCH);
    if db.starts_with("mysql:") {
        let conn = sea_orm::Database::connect(db.as_str()).await?;
        conn.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS pushes (
                 id BIGINT AUTO_INCREMENT PRIMARY KEY,
                 push VARCHAR(191) NOT NULL UNIQUE,
                 sent TINYINT NOT NULL DEFAULT 0
             )",
        )
        .await?;
        conn.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS outbox (
                 scan_id BIGINT PRIMARY KEY,
                 status VARCHAR(16) NOT NULL,
                 due_at BIGINT NOT NULL,
                 INDEX outbox_due (status, due_at)
             )",
        )
        .await?;
        let writer = MySqlWriter::new(&db).await?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || runtime.block_on(write_mysql(writer, rows, rx)))?;
    } else {
        let path = db.trim_start_matches("sqlite://");
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let synchronous = crate::databases::sqlite_synchronous()?.pragma();
        let conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", synchronous)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS pushes (
                 id INTEGER PRIMARY KEY,
                 push TEXT NOT NULL UNIQUE,
                 sent INTEGER NOT NULL DEFAULT 0
             );
             CREATE TABLE IF NOT EXISTS outbox (
                 scan_id INTEGER PRIMARY KEY,
                 status TEXT NOT NULL,
                 due_at INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, due_at);",
        )?;
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || write_sqlite(conn, rows, rx))?;
    }
    let floor = Floor {
        journal: tx,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?,
        url: format!("{api}/cgi-bin/message/custom/send?access_token=bench-access-token"),
    };
    let router = Router::new().route("/wechat", post(push)).with_state(floor);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    crate::announce(listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}

/// Records the push (its query carries a timestamp and nonce unique to it), answers
/// once that is committed, then sends its message and records that it went.
async fn push(State(floor): State<Floor>, RawQuery(query): RawQuery) -> &'static str {
    let (reply, committed) = oneshot::channel();
    let identity = identity(query.unwrap_or_default());
    let entry = Entry::Push(identity.clone(), reply);
    if floor.journal.send(entry).await.is_err() {
        return "";
    }
    let Ok(row) = committed.await else {
        return "";
    };
    tokio::spawn(async move {
        let body = json!({"touser": "oBench", "msgtype": "news", "news": {"articles": [
            {"title": "t", "description": "d", "url": "http://127.0.0.1/quote", "picurl": ""}]}});
        if let Ok(r) = floor.http.post(&floor.url).json(&body).send().await
            && r.bytes().await.is_ok()
        {
            let _ = floor.journal.send(Entry::Sent(identity, row)).await;
        }
    });
    "success"
}

/// The push's identity: its query (its timestamp and nonce are unique to it), led by
/// its timestamp, zero-padded, so the unique index on it grows at its end as scan
/// identities do. Led by the signature (a SHA-1), every push of a batch landed on a
/// leaf page of its own: measured so, the writer spent 29 µs a push, against 22 with
/// this and sends marked by row id.
fn identity(query: String) -> String {
    let ts = query
        .split('&')
        .find_map(|p| p.strip_prefix("timestamp="))
        .unwrap_or_default();
    format!("{ts:0>12}|{query}")
}

/// The SQLite writer thread: a transaction per batch, a cached statement per row.
fn write_sqlite(mut conn: rusqlite::Connection, rows: Rows, mut rx: mpsc::Receiver<Entry>) {
    while let Some(first) = rx.blocking_recv() {
        let batch = Batch::gather(first, &mut rx);
        let written = (|| -> rusqlite::Result<Vec<Option<i64>>> {
            let txn = conn.transaction()?;
            let mut ids = Vec::with_capacity(batch.pushes.len());
            {
                let mut insert = txn.prepare_cached("INSERT INTO pushes (push) VALUES (?1)")?;
                let mut enqueue = (rows == Rows::Design)
                    .then(|| {
                        txn.prepare_cached(
                            "INSERT INTO outbox (scan_id, status, due_at) \
                             VALUES (?1, 'sending', ?2)",
                        )
                    })
                    .transpose()?;
                for identity in &batch.pushes {
                    insert.execute([identity])?;
                    let id = txn.last_insert_rowid();
                    if let Some(enqueue) = &mut enqueue {
                        enqueue.execute([id, now_ms()])?;
                    }
                    ids.push(Some(id));
                }
                // By the row's id, as scanquote marks its messages.
                let mut sent = txn.prepare_cached(match rows {
                    Rows::Push => "UPDATE pushes SET sent = 1 WHERE id = ?1",
                    Rows::Design => "UPDATE outbox SET status = 'sent' WHERE scan_id = ?1",
                })?;
                for (_, row) in &batch.sent {
                    sent.execute([row])?;
                }
            }
            txn.commit()?;
            Ok(ids)
        })();
        batch.finish(written.map_err(|e| e.to_string()));
    }
}

/// The MySQL writer: a transaction per batch, a statement for its pushes (and for
/// their messages) and one for its sends, all in one round trip, as scanquote's
/// journal writes.
async fn write_mysql(writer: MySqlWriter, rows: Rows, mut rx: mpsc::Receiver<Entry>) {
    while let Some(first) = rx.recv().await {
        let batch = Batch::gather(first, &mut rx);
        let written = writer
            .transaction_reading(async |txn| {
                if !batch.pushes.is_empty() {
                    let mut insert = Query::insert();
                    insert
                        .into_table(Alias::new("pushes"))
                        .columns([Alias::new("push")]);
                    for identity in &batch.pushes {
                        insert.values_panic([identity.as_str().into()]);
                    }
                    txn.queue(&insert).await?;
                    if rows == Rows::Design {
                        txn.queue(&first_id()).await?;
                        txn.queue(&enqueue_mysql(batch.pushes.len())).await?;
                    }
                }
                if !batch.sent.is_empty() {
                    let sent = match rows {
                        Rows::Push => Query::update()
                            .table(Alias::new("pushes"))
                            .value(Alias::new("sent"), 1)
                            .and_where(
                                Expr::col(Alias::new("push"))
                                    .is_in(batch.sent.iter().map(|(identity, _)| identity)),
                            )
                            .to_owned(),
                        // By the ids read back when they were enqueued, as scanquote
                        // marks its messages.
                        Rows::Design => Query::update()
                            .table(Alias::new("outbox"))
                            .value(Alias::new("status"), "sent")
                            .and_where(
                                Expr::col(Alias::new("scan_id"))
                                    .is_in(batch.sent.iter().filter_map(|(_, id)| *id)),
                            )
                            .to_owned(),
                    };
                    txn.queue(&sent).await?;
                }
                Ok(())
            })
            .await
            .and_then(|((), read)| ids(&read, batch.pushes.len()));
        batch.finish(written.map_err(|e| e.to_string()));
    }
}

/// `SELECT` the first id of the insert before it and the step between ids.
fn first_id() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .expr(Expr::cust("CAST(LAST_INSERT_ID() AS SIGNED)"))
        .expr(Expr::cust("CAST(@@auto_increment_increment AS SIGNED)"))
        .to_owned()
}

/// The ids of a batch's `n` scans from what [`first_id`] read, or none for each when
/// nothing was (the one-row floor marks its sends by identity).
fn ids(
    read: &[sea_orm::sqlx::mysql::MySqlRow],
    n: usize,
) -> Result<Vec<Option<i64>>, sea_orm::DbErr> {
    use sea_orm::sqlx::Row;
    let Some(row) = read.first() else {
        return Ok(vec![None; n]);
    };
    let first: i64 = row
        .try_get(0)
        .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    let step: i64 = row
        .try_get(1)
        .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    Ok((0..n as i64).map(|k| Some(first + k * step)).collect())
}

/// The messages of the `n` scans the previous statement inserted, by their ids as
/// scanquote's journal numbers its messages: from `LAST_INSERT_ID()` (a multi-row insert's
/// ids are consecutive under InnoDB's default lock mode), no read of the scans.
fn enqueue_mysql(n: usize) -> sea_orm::sea_query::InsertStatement {
    let mut insert = Query::insert();
    insert.into_table(Alias::new("outbox")).columns([
        Alias::new("scan_id"),
        Alias::new("status"),
        Alias::new("due_at"),
    ]);
    let now = now_ms();
    for k in 0..n {
        insert.values_panic([
            Expr::cust(format!(
                "LAST_INSERT_ID() + {k} * @@auto_increment_increment"
            )),
            "sending".into(),
            now.into(),
        ]);
    }
    insert
}
