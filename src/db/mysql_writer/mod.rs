//! The journal's own MySQL/MariaDB connection, outside the shared pool.
//!
//! Through the pool a batch cost more than its statements. It took a connection and
//! gave it back, and sqlx pings every connection given back, a round trip the next
//! batch's `BEGIN` could wait behind. And the journal was a task among the request
//! handlers: after each of a batch's round trips it waited for a runtime worker behind
//! the very pushes it was to answer, while the journal, one transaction at a time, is
//! what limits how many pushes a second MySQL takes. Measured with the bench (one
//! binary, a switch, two interleaved pairs, 64 connections): 8,148 and 8,297 pushes a
//! second through the pool, 9,703 and 9,690 on a thread and connection of its own, with
//! less CPU per push (73 → 67 µs) and a lower p99.
//!
//! So the journal runs on a thread of its own on MySQL too
//! ([`crate::quote::outbox::journal`]), and this connection is opened there, its socket
//! driven by that thread's runtime. A connection that broke is dropped, and the next
//! transaction opens a new one. It runs at `READ COMMITTED`, so that several instances'
//! batches do not lock each other's scans ([`read_committed`]).
//!
//! A transaction is also one round trip, not one per statement: `BEGIN`, the statements
//! queued ([`Execute::queue`]) and `COMMIT` go as one multi-statement query, the values
//! written into the text ([`literal`]; such a query takes no bound values). A
//! statement whose count is read ([`Execute::run`]) goes at once, with what is queued
//! before it. Compared with a round trip per prepared statement (one binary each, two
//! interleaved pairs): 10,196 and 10,250 pushes a second against 9,635 and 9,797; at
//! the paced 1,000 a second p50 1.5–1.9 ms against 2.7–2.9 and p99 3.8–4.2 against
//! 5.6–6.2, because each round trip had cost a wake-up of this thread.
//!
//! What a transaction wrote can be read in that same round trip
//! ([`MySqlWriter::transaction_reading`]): the journal reads the ids of the messages it
//! claimed for the worker (`enqueue::numbered`), which otherwise read them through the
//! pool (a connection taken, a query, and the ping on giving it back) before it could
//! send. Same bench, two interleaved pairs, when it read the messages' rows back this
//! way: CPU per push at the paced 1,000 a second 462–482 µs against 552–569, per
//! delivered message 92–94 against 108–138.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use sea_orm::sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow};
use sea_orm::sqlx::{self, AssertSqlSafe, ConnectOptions, Either};
use sea_orm::{DbErr, RuntimeErr, StatementBuilder};
use tokio::sync::Mutex;

use super::execute::Execute;
use literal::inline;

mod literal;

/// How long opening the connection may take, as the shared pool's `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The journal's connection; see the module's comment. Opened when first used.
pub struct MySqlWriter {
    options: MySqlConnectOptions,
    /// The server's addresses, to turn Nagle's algorithm off on the socket ([`super::nodelay`]).
    server: Vec<SocketAddr>,
    /// `None` until opened, and again once it broke.
    conn: Mutex<Option<MySqlConnection>>,
}

/// A transaction in progress on the writer's connection: what [`Execute`] runs on.
/// Statements queued ([`Execute::queue`]) wait here, inlined, until a statement is run
/// or the transaction commits, and go with it in one round trip.
pub struct Open<'c> {
    state: Mutex<Pending<'c>>,
}

struct Pending<'c> {
    conn: &'c mut MySqlConnection,
    /// Statements not sent yet, `BEGIN` first until the first round trip.
    queued: Vec<String>,
    /// The rows the statements sent so far returned.
    rows: Vec<MySqlRow>,
}

impl MySqlWriter {
    /// A writer for the server of `url` (whose settings the shared pool has checked by
    /// now); it connects on first use.
    pub async fn new(url: &str) -> anyhow::Result<MySqlWriter> {
        let options = url
            .parse::<MySqlConnectOptions>()?
            .disable_statement_logging();
        Ok(MySqlWriter {
            options,
            server: super::mysql_server(url).await,
            conn: Mutex::new(None),
        })
    }

    /// A writer to the same server, with a connection of its own.
    pub fn sibling(&self) -> MySqlWriter {
        MySqlWriter {
            options: self.options.clone(),
            server: self.server.clone(),
            conn: Mutex::new(None),
        }
    }

    /// Opens the connection unless it is open: on the journal's thread, before the
    /// first batch, so the first push waits for no handshake.
    pub async fn connect(&self) -> Result<(), DbErr> {
        let mut held = self.conn.lock().await;
        self.open(&mut held).await.map(|_| ())
    }

    async fn open<'a>(
        &self,
        held: &'a mut Option<MySqlConnection>,
    ) -> Result<&'a mut MySqlConnection, DbErr> {
        if held.is_none() {
            let mut opened = tokio::time::timeout(CONNECT_TIMEOUT, self.options.connect())
                .await
                .map_err(|_| DbErr::Conn(RuntimeErr::Internal("connecting timed out".into())))?
                .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
            super::nodelay::on_sockets_to(&self.server);
            read_committed(&mut opened).await?;
            *held = Some(opened);
        }
        Ok(held.as_mut().expect("opened above"))
    }

    /// Runs `work` in one transaction, committed if it returns `Ok`, else rolled back.
    /// `Ok` means committed. An error that is not the server's own (the connection
    /// broke, or answered nonsense) drops the connection: had it broken during `COMMIT`,
    /// whether the transaction committed is unknown, and the server rolls back a
    /// transaction left open by a closed connection.
    pub async fn transaction<T>(
        &self,
        work: impl AsyncFnOnce(&Open<'_>) -> Result<T, DbErr>,
    ) -> Result<T, DbErr> {
        let (done, _) = self.transaction_reading(work).await?;
        Ok(done)
    }

    /// [`Self::transaction`], and the rows the `SELECT`s queued among its statements
    /// returned, in order: what the transaction wrote (the ids the server chose) is read
    /// in the round trip of the `COMMIT`, at no round trip and no pool connection of its
    /// own.
    pub async fn transaction_reading<T>(
        &self,
        work: impl AsyncFnOnce(&Open<'_>) -> Result<T, DbErr>,
    ) -> Result<(T, Vec<MySqlRow>), DbErr> {
        let mut held = self.conn.lock().await;
        let conn = self.open(&mut held).await?;
        let open = Open {
            state: Mutex::new(Pending {
                conn,
                queued: vec!["BEGIN".to_owned()],
                rows: Vec::new(),
            }),
        };
        let done = match work(&open).await {
            Ok(done) => open.send("COMMIT".to_owned()).await.map(|_| done),
            Err(e) => Err(e),
        };
        let Pending { conn, rows, .. } = open.state.into_inner();
        if let Err(e) = &done {
            // The server refused a statement (a duplicate, a deadlock): the connection
            // is sound, and rolling back keeps it.
            let refused = super::errors::database_error(e).is_some();
            let kept = refused && plain(conn, "ROLLBACK").await.is_ok();
            if !kept {
                *held = None;
            }
        }
        done.map(|done| (done, rows))
    }
}

impl Open<'_> {
    /// Sends the queued statements and `last` in one round trip; the number of rows
    /// `last` changed. The server stops at the first statement that fails, and that
    /// failure is the answer.
    async fn send(&self, last: String) -> Result<u64, DbErr> {
        let mut state = self.state.lock().await;
        let Pending { conn, queued, rows } = &mut *state;
        queued.push(last);
        let sql = queued.join(";\n");
        queued.clear();
        // Each statement's rows, then its count: the last count is `last`'s.
        let mut stream = sqlx::raw_sql(AssertSqlSafe(sql)).fetch_many(&mut **conn);
        let mut changed = 0;
        while let Some(next) = stream.try_next().await.map_err(exec_err)? {
            match next {
                Either::Left(done) => changed = done.rows_affected(),
                Either::Right(row) => rows.push(row),
            }
        }
        Ok(changed)
    }
}

/// Puts the connection at `READ COMMITTED`, unless the server logs statements.
///
/// At MySQL's default `REPEATABLE READ` the statement that made a batch's messages
/// from its scans (`INSERT … SELECT … WHERE event_identity IN …`; passive replies' and
/// channel codes' deliveries are still made so, an order's messages now by
/// `enqueue::numbered`) read those scans
/// with shared locks, and the range it walked reached other instances' scans of the
/// same second, whose identities sort among ours. Met uncommitted, it waited for
/// them, while their transaction waited for the auto-increment lock of `deliveries`
/// this statement held: a deadlock (as `SHOW ENGINE INNODB STATUS` told), and each
/// batch's tries slept and failed. Found by running the bench's service with two
/// journal connections, as two instances have: 5,000 scans took 20 s to deliver, not
/// one. Nothing the journal writes depends on a repeatable read: it inserts, reads
/// the ids it generated, and updates under conditions re-checked on each locked
/// row. At `READ COMMITTED` the `SELECT` part reads without locks.
///
/// A server that writes its binary log as statements (`binlog_format=STATEMENT`)
/// refuses InnoDB writes at `READ COMMITTED`; there the connection stays as it is,
/// and the log says why.
async fn read_committed(conn: &mut MySqlConnection) -> Result<(), DbErr> {
    let (log_bin, format): (i64, String) = sqlx::query_as(BINARY_LOG)
        .fetch_one(&mut *conn)
        .await
        .map_err(exec_err)?;
    if logs_statements(log_bin, &format) {
        tracing::warn!(
            "the server writes its binary log as statements (binlog_format=STATEMENT): \
             the journal stays at REPEATABLE READ, and several instances' journals may \
             wait on each other's locks; binlog_format=MIXED or ROW avoids it"
        );
        return Ok(());
    }
    plain(
        conn,
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    )
    .await
}

/// Whether the server keeps a binary log (1 or 0) and in which format.
pub const BINARY_LOG: &str = "SELECT CAST(@@log_bin AS SIGNED), @@binlog_format";

/// Whether a server with [`BINARY_LOG`]'s answer writes statements to its binary log,
/// and so refuses InnoDB writes at `READ COMMITTED`.
pub fn logs_statements(log_bin: i64, format: &str) -> bool {
    log_bin == 1 && format.eq_ignore_ascii_case("STATEMENT")
}

/// Runs a statement without values, unprepared.
async fn plain(conn: &mut MySqlConnection, sql: &'static str) -> Result<(), DbErr> {
    sqlx::raw_sql(sql)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(exec_err)
}

/// As sea-orm wraps sqlx's errors, so that [`super::errors`] reads them the same.
fn exec_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
}

impl Execute for Open<'_> {
    async fn run<S: StatementBuilder + Sync>(&self, statement: &S) -> Result<u64, DbErr> {
        self.send(inline(statement)?).await
    }

    async fn queue<S: StatementBuilder + Sync>(&self, statement: &S) -> Result<(), DbErr> {
        let sql = inline(statement)?;
        self.state.lock().await.queued.push(sql);
        Ok(())
    }

    fn keeps_prepared(&self) -> bool {
        false
    }

    fn numbers_in_session(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
