//! The durable floor: the floor's push (answer `success`, send one message) plus the
//! least that any implementation keeping the promise must write, and nothing
//! else. Each push is recorded under its unique identity and committed before it is
//! answered, and its send's outcome is recorded after, both group-committed by one
//! writer: on SQLite a thread, WAL mode at the service's `SQLITE_SYNCHRONOUS`; on
//! MySQL a task, at the server's own flush setting.
//! No signature, no parsing, no order, no card: what it costs over the floor is what
//! durability itself costs on this machine, which no design of scanquote can undercut.

use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::post;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

/// Entries per transaction at most, as scanquote's journal.
const MAX_BATCH: usize = 512;

enum Entry {
    /// A push's identity; answered once committed.
    Push(String, oneshot::Sender<()>),
    /// The identity of a push whose message was sent.
    Sent(String),
}

/// A batch taken apart: the pushes to record, their callers, the sends to mark.
#[derive(Default)]
struct Batch {
    pushes: Vec<String>,
    replies: Vec<oneshot::Sender<()>>,
    sent: Vec<String>,
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
                Entry::Sent(identity) => batch.sent.push(identity),
            }
            taken += 1;
            next = (taken < MAX_BATCH).then(|| rx.try_recv().ok()).flatten();
        }
        batch
    }

    /// Answers the batch's pushes once it is committed. On failure they are dropped
    /// unanswered, and the handler answers them "".
    fn finish(self, written: Result<(), String>) {
        match written {
            Ok(()) => self.replies.into_iter().for_each(|r| {
                let _ = r.send(());
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

/// Serves the durable floor on the database at `db`: a `sqlite://` file, written by a
/// thread of its own as scanquote's journal does, or a `mysql://` database, by a task.
pub async fn serve_durable_forwarder(api: String, db: String) -> anyhow::Result<()> {
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
        tokio::spawn(write_mysql(conn, rx));
    } else {
        let path = db.trim_start_matches("sqlite://");
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let synchronous = std::env::var("SQLITE_SYNCHRONOUS").unwrap_or_else(|_| "FULL".into());
        let conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", &synchronous)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS pushes (
                 id INTEGER PRIMARY KEY,
                 push TEXT NOT NULL UNIQUE,
                 sent INTEGER NOT NULL DEFAULT 0
             )",
        )?;
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || write_sqlite(conn, rx))?;
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
    let identity = query.unwrap_or_default();
    let entry = Entry::Push(identity.clone(), reply);
    if floor.journal.send(entry).await.is_err() || committed.await.is_err() {
        return "";
    }
    tokio::spawn(async move {
        let body = json!({"touser": "oBench", "msgtype": "news", "news": {"articles": [
            {"title": "t", "description": "d", "url": "http://127.0.0.1/quote", "picurl": ""}]}});
        if let Ok(r) = floor.http.post(&floor.url).json(&body).send().await
            && r.bytes().await.is_ok()
        {
            let _ = floor.journal.send(Entry::Sent(identity)).await;
        }
    });
    "success"
}

/// The SQLite writer thread: a transaction per batch, a cached statement per row.
fn write_sqlite(mut conn: rusqlite::Connection, mut rx: mpsc::Receiver<Entry>) {
    while let Some(first) = rx.blocking_recv() {
        let batch = Batch::gather(first, &mut rx);
        let written = (|| -> rusqlite::Result<()> {
            let txn = conn.transaction()?;
            {
                let mut insert = txn.prepare_cached("INSERT INTO pushes (push) VALUES (?1)")?;
                for identity in &batch.pushes {
                    insert.execute([identity])?;
                }
                let mut sent = txn.prepare_cached("UPDATE pushes SET sent = 1 WHERE push = ?1")?;
                for identity in &batch.sent {
                    sent.execute([identity])?;
                }
            }
            txn.commit()
        })();
        batch.finish(written.map_err(|e| e.to_string()));
    }
}

/// The MySQL writer task: a transaction per batch, one statement for its pushes and one
/// for its sends, as few round trips as a batch can take.
async fn write_mysql(conn: DatabaseConnection, mut rx: mpsc::Receiver<Entry>) {
    while let Some(first) = rx.recv().await {
        let batch = Batch::gather(first, &mut rx);
        let written = async {
            let txn = conn.begin().await?;
            let insert = |n| format!("INSERT INTO pushes (push) VALUES {}", marks("(?)", n));
            let sent = |n| {
                format!(
                    "UPDATE pushes SET sent = 1 WHERE push IN ({})",
                    marks("?", n)
                )
            };
            in_chunks(&txn, &batch.pushes, insert).await?;
            in_chunks(&txn, &batch.sent, sent).await?;
            txn.commit().await
        }
        .await;
        batch.finish(written.map_err(|e| e.to_string()));
    }
}

/// `mark` `n` times, comma-separated.
fn marks(mark: &str, n: usize) -> String {
    vec![mark; n].join(",")
}

/// Runs the statement `sql` makes for each of scanquote's chunks of `values`: each
/// statement then comes in a few shapes that stay prepared, as the journal's do.
async fn in_chunks(
    txn: &sea_orm::DatabaseTransaction,
    values: &[String],
    sql: impl Fn(usize) -> String,
) -> Result<(), sea_orm::DbErr> {
    for some in scanquote::db::chunks(values) {
        let bound = some.iter().map(|v| v.as_str().into());
        let statement = Statement::from_sql_and_values(DbBackend::MySql, sql(some.len()), bound);
        txn.execute_raw(statement).await?;
    }
    Ok(())
}
