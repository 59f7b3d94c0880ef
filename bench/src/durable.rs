//! The durable floor: the floor's push (answer `success`, send one message) plus the
//! least that any implementation keeping the promise must write, and nothing
//! else. Each push is recorded under its unique identity and committed before it is
//! answered, and its send's outcome is recorded after, both group-committed by one
//! writer thread on a SQLite file in WAL mode at the service's `SQLITE_SYNCHRONOUS`.
//! No signature, no parsing, no order, no card: what it costs over the floor is what
//! durability itself costs on this machine, which no design of scanquote can undercut.

use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::post;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

/// Entries per transaction at most, as scanquote's journal.
const MAX_BATCH: usize = 512;

enum Entry {
    /// A push's identity; answered with its row once committed.
    Push(String, oneshot::Sender<i64>),
    /// The row whose message was sent.
    Sent(i64),
}

#[derive(Clone)]
struct Floor {
    journal: mpsc::Sender<Entry>,
    http: reqwest::Client,
    url: String,
}

pub async fn serve_durable_forwarder(api: String, db: String) -> anyhow::Result<()> {
    let synchronous = std::env::var("SQLITE_SYNCHRONOUS").unwrap_or_else(|_| "FULL".into());
    let conn = rusqlite::Connection::open(&db)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", &synchronous)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS pushes (
             id INTEGER PRIMARY KEY,
             push TEXT NOT NULL UNIQUE,
             sent INTEGER NOT NULL DEFAULT 0
         )",
    )?;
    let (tx, rx) = mpsc::channel(2 * MAX_BATCH);
    std::thread::Builder::new()
        .name("journal".into())
        .spawn(move || write_batches(conn, rx))?;
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
    if floor
        .journal
        .send(Entry::Push(identity, reply))
        .await
        .is_err()
    {
        return "";
    }
    let Ok(id) = committed.await else {
        return "";
    };
    tokio::spawn(async move {
        let body = json!({"touser": "oBench", "msgtype": "news", "news": {"articles": [
            {"title": "t", "description": "d", "url": "http://127.0.0.1/quote", "picurl": ""}]}});
        if let Ok(r) = floor.http.post(&floor.url).json(&body).send().await
            && r.bytes().await.is_ok()
        {
            let _ = floor.journal.send(Entry::Sent(id)).await;
        }
    });
    "success"
}

/// The writer thread: takes everything waiting, writes it in one transaction, commits,
/// then answers the pushes in it.
fn write_batches(mut conn: rusqlite::Connection, mut rx: mpsc::Receiver<Entry>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut answers = Vec::new();
        let written = (|| -> rusqlite::Result<()> {
            let txn = conn.transaction()?;
            {
                let mut insert = txn.prepare_cached("INSERT INTO pushes (push) VALUES (?1)")?;
                let mut sent = txn.prepare_cached("UPDATE pushes SET sent = 1 WHERE id = ?1")?;
                for entry in batch {
                    match entry {
                        Entry::Push(identity, reply) => {
                            answers.push((insert.insert([identity])?, reply));
                        }
                        Entry::Sent(id) => {
                            sent.execute([id])?;
                        }
                    }
                }
            }
            txn.commit()
        })();
        match written {
            Ok(()) => {
                for (id, reply) in answers {
                    let _ = reply.send(id);
                }
            }
            // The batch's pushes are dropped unanswered: the handler answers them "".
            Err(e) => eprintln!("durable floor: a batch failed: {e}"),
        }
    }
}
