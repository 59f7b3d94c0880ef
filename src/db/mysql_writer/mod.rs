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
//! transaction opens a new one.
//!
//! A transaction is also one round trip, not one per statement: `BEGIN`, the statements
//! queued ([`Execute::queue`]) and `COMMIT` go as one multi-statement query, the values
//! written into the text ([`literal`]; such a query takes no bound values). A
//! statement whose count is read ([`Execute::run`]) goes at once, with what is queued
//! before it. Compared with a round trip per prepared statement (one binary each, two
//! interleaved pairs): 10,196 and 10,250 pushes a second against 9,635 and 9,797; at
//! the paced 1,000 a second p50 1.5–1.9 ms against 2.7–2.9 and p99 3.8–4.2 against
//! 5.6–6.2, because each round trip had cost a wake-up of this thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use sea_orm::sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sea_orm::sqlx::{self, AssertSqlSafe, ConnectOptions};
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
            let opened = tokio::time::timeout(CONNECT_TIMEOUT, self.options.connect())
                .await
                .map_err(|_| DbErr::Conn(RuntimeErr::Internal("connecting timed out".into())))?
                .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
            super::nodelay::on_sockets_to(&self.server);
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
        let mut held = self.conn.lock().await;
        let conn = self.open(&mut held).await?;
        let open = Open {
            state: Mutex::new(Pending {
                conn,
                queued: vec!["BEGIN".to_owned()],
            }),
        };
        let done = match work(&open).await {
            Ok(done) => open.send("COMMIT".to_owned()).await.map(|_| done),
            Err(e) => Err(e),
        };
        let conn = open.state.into_inner().conn;
        if let Err(e) = &done {
            // The server refused a statement (a duplicate, a deadlock): the connection
            // is sound, and rolling back keeps it.
            let refused = super::errors::database_error(e).is_some();
            let kept = refused && plain(conn, "ROLLBACK").await.is_ok();
            if !kept {
                *held = None;
            }
        }
        done
    }
}

impl Open<'_> {
    /// Sends the queued statements and `last` in one round trip; the number of rows
    /// `last` changed. The server stops at the first statement that fails, and that
    /// failure is the answer.
    async fn send(&self, last: String) -> Result<u64, DbErr> {
        let mut state = self.state.lock().await;
        let Pending { conn, queued } = &mut *state;
        queued.push(last);
        let sql = queued.join(";\n");
        queued.clear();
        let results: Vec<_> = sqlx::raw_sql(AssertSqlSafe(sql))
            .execute_many(&mut **conn)
            .try_collect()
            .await
            .map_err(exec_err)?;
        Ok(results.last().map_or(0, |r| r.rows_affected()))
    }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Alias, Query};
    use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

    impl MySqlWriter {
        /// The local port of the connection open now (opening one if none is).
        async fn client_port(&self) -> u16 {
            let mut held = self.conn.lock().await;
            let conn = self.open(&mut held).await.unwrap();
            crate::db::tests::client_port(conn).await
        }

        /// The server's id of the connection open now (opening one if none is).
        async fn connection_id(&self) -> u64 {
            let mut held = self.conn.lock().await;
            let conn = self.open(&mut held).await.unwrap();
            sqlx::query_scalar("SELECT CONNECTION_ID()")
                .fetch_one(conn)
                .await
                .unwrap()
        }
    }

    fn insert(table: &str, id: i32, note: &str) -> sea_orm::sea_query::InsertStatement {
        Query::insert()
            .into_table(Alias::new(table))
            .columns([Alias::new("id"), Alias::new("note")])
            .values_panic([id.into(), note.into()])
            .to_owned()
    }

    fn rename<const N: usize>(
        table: &str,
        ids: [i32; N],
        note: &str,
    ) -> sea_orm::sea_query::UpdateStatement {
        use sea_orm::sea_query::{Expr, ExprTrait};
        Query::update()
            .table(Alias::new(table))
            .value(Alias::new("note"), note)
            .and_where(Expr::col(Alias::new("id")).is_in(ids))
            .to_owned()
    }

    async fn notes(admin: &DatabaseConnection, table: &str) -> Vec<(i32, String)> {
        let sql = format!("SELECT id, note FROM {table} ORDER BY id");
        let rows = admin
            .query_all_raw(Statement::from_string(DbBackend::MySql, sql))
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

    #[tokio::test]
    async fn a_transaction_is_all_or_nothing_and_a_killed_connection_is_replaced() {
        let Some(url) = crate::db::tests::mysql_url() else {
            return;
        };
        let table = format!("writer_test_{:08x}", rand::random::<u32>());
        let admin = Database::connect(url.as_str()).await.unwrap();
        admin
            .execute_unprepared(&format!(
                "CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(64) NOT NULL)"
            ))
            .await
            .unwrap();
        let server = crate::db::mysql_server(&url).await;
        let writer = MySqlWriter::new(&url).await.unwrap();
        writer.connect().await.unwrap();
        let first = writer.connection_id().await;
        let port = writer.client_port().await;
        assert_eq!(
            crate::db::nodelay::is_set_from(&server, port),
            Some(true),
            "the writer's socket has Nagle's algorithm off"
        );

        // Values are written into the statements: every character an escape could get
        // wrong, and a placeholder's mark.
        let odd = "it's a \\ \"quoted\" ? \0 \n\r\t \x1a \x08 报价 😀 \\'";
        let changed = writer
            .transaction(async |c| {
                c.queue(&insert(&table, 1, "one")).await?;
                c.queue(&insert(&table, 2, odd)).await?;
                // Run after two queued: all three in one round trip, its own count back.
                c.run(&rename(&table, [1, 2, 99], "one")).await
            })
            .await
            .unwrap();
        // Rows matched, as sqlx counts them (1 was so already), of the last statement alone.
        assert_eq!(changed, 2, "rows the run statement changed");
        let both = vec![(1, "one".to_owned()), (2, "one".to_owned())];
        assert_eq!(notes(&admin, &table).await, both);
        writer
            .transaction(async |c| c.queue(&rename(&table, [2], odd)).await)
            .await
            .unwrap();
        let both = vec![(1, "one".to_owned()), (2, odd.to_owned())];
        assert_eq!(notes(&admin, &table).await, both, "queued, then committed");

        // The second insert meets the primary key: nothing of the transaction stays,
        // the error says it was a duplicate, and the connection is kept.
        let refused = writer
            .transaction(async |c| {
                c.run(&insert(&table, 3, "three")).await?;
                c.queue(&insert(&table, 1, "again")).await?;
                c.queue(&insert(&table, 4, "four")).await
            })
            .await
            .unwrap_err();
        assert!(crate::db::is_duplicate(&refused), "{refused}");
        assert_eq!(notes(&admin, &table).await, both, "rolled back");
        assert_eq!(writer.connection_id().await, first, "the same connection");

        // The server kills it: at most one transaction fails, then a new one is opened.
        admin
            .execute_unprepared(&format!("KILL {first}"))
            .await
            .unwrap();
        let mut failed = 0;
        for id in 10..13 {
            let done = writer
                .transaction(async |c| c.run(&insert(&table, id, "after")).await)
                .await;
            failed += usize::from(done.is_err());
        }
        assert!(
            failed <= 1,
            "{failed} transactions failed on a killed connection"
        );
        assert_eq!(notes(&admin, &table).await.len(), 2 + 3 - failed);
        assert_ne!(writer.connection_id().await, first, "a new connection");
        let port = writer.client_port().await;
        let nodelay = crate::db::nodelay::is_set_from(&server, port);
        assert_eq!(nodelay, Some(true), "so is the new one's");
        admin
            .execute_unprepared(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
    }
}
