//! The database: connecting (with SQLite's tuning), migrations, and what every room
//! that stores something shares: [`lease`]s between instances, [`batch`] helpers for
//! statements over many rows, the meaning of [`errors`], and the [`token_store`] that
//! keeps the account's access token for `wechat`.

pub mod batch;
pub mod checkpointer;
pub mod dedicated;
pub mod errors;
pub mod execute;
pub mod lease;
pub mod mysql_writer;
pub mod nodelay;
pub mod shaped;
pub mod token_store;

pub use batch::{chunks, padded};
pub use errors::{TRANSACTION_TRIES, is_duplicate, is_retryable};
pub use execute::Execute;

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

/// What a commit on SQLite survives once it returns (`SQLITE_SYNCHRONOUS`). A push is
/// acknowledged only after its scan and message are committed, so this is what an
/// acknowledged push survives. MySQL/MariaDB decide it on the server
/// (`innodb_flush_log_at_trx_commit`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// The commit is on disk (the WAL fsynced) before it returns: it survives the process
    /// being killed, an OS crash and a power loss.
    #[default]
    Full,
    /// The commit is in the WAL, in the OS's page cache, when it returns; the disk is
    /// synced at checkpoints. It survives the process being killed (the OS still writes
    /// it); an OS crash or a power loss may take the last commits, never corrupting the
    /// database.
    Normal,
}

impl Synchronous {
    pub fn parse(value: &str) -> Option<Synchronous> {
        match value.to_ascii_lowercase().as_str() {
            "full" => Some(Synchronous::Full),
            "normal" => Some(Synchronous::Normal),
            _ => None,
        }
    }

    /// The value of SQLite's `PRAGMA synchronous` for this setting.
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }

    fn sqlx(self) -> sea_orm::sqlx::sqlite::SqliteSynchronous {
        match self {
            Synchronous::Full => sea_orm::sqlx::sqlite::SqliteSynchronous::Full,
            Synchronous::Normal => sea_orm::sqlx::sqlite::SqliteSynchronous::Normal,
        }
    }
}

/// The shared pool, with commits as durable as SQLite's default (`FULL`).
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    connect_with(url, Synchronous::Full).await
}

/// How long a pooled connection may lie idle and still be handed out unchecked.
///
/// The pool pings every connection when it is given back, and closes it if that fails:
/// a connection that broke in use is never handed out again. By default it also pinged
/// every connection it handed out, a second round trip to the MySQL server (or hop to
/// SQLite's worker thread) around nearly every statement: 0.84 pings per push at full
/// load on MariaDB, 0.43 without (measured, `Com_admin_commands`). Only a connection
/// idle this long, which a server, proxy or firewall may have dropped meanwhile, is
/// pinged (and replaced if dead) before use.
const PING_AFTER_IDLE: Duration = Duration::from_secs(30);

/// The shared pool, its SQLite commits as durable as `sync` says.
pub async fn connect_with(url: &str, sync: Synchronous) -> anyhow::Result<DatabaseConnection> {
    let db = Database::connect(pool_options(url, sync).await)
        .await
        .with_context(|| "DATABASE_URL: cannot connect to the database")?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // WAL lets the pages read while the callback and the worker write.
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Ok(db)
}

/// How the shared pool connects, and checks and sets up its connections.
async fn pool_options(url: &str, sync: Synchronous) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if url.starts_with("sqlite:") { 8 } else { 16 })
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| sqlite_options(o).synchronous(sync.sqlx()))
        .map_sqlx_sqlite_pool_opts(stable_query_plans);
    options.test_before_acquire_if_idle_for(PING_AFTER_IDLE);
    if url.starts_with("mysql:") || url.starts_with("mariadb:") {
        let server = mysql_server(url).await;
        let server = std::sync::Arc::new(server);
        options.map_sqlx_mysql_pool_opts(move |o| no_delay(o, server.clone()));
    }
    options
}

/// The addresses the MySQL server at `url` has (none when it is reached by a Unix
/// socket, or its name does not resolve: then connecting says why).
async fn mysql_server(url: &str) -> Vec<std::net::SocketAddr> {
    let Ok(options) = url.parse::<sea_orm::sqlx::mysql::MySqlConnectOptions>() else {
        return Vec::new();
    };
    if options.get_socket().is_some() {
        return Vec::new();
    }
    let host = options.get_host().trim_matches(['[', ']']);
    match tokio::net::lookup_host((host, options.get_port())).await {
        Ok(found) => found.collect(),
        Err(_) => Vec::new(),
    }
}

/// Every MySQL connection: Nagle's algorithm off ([`nodelay`]).
fn no_delay(
    options: sea_orm::sqlx::pool::PoolOptions<sea_orm::sqlx::MySql>,
    server: std::sync::Arc<Vec<std::net::SocketAddr>>,
) -> sea_orm::sqlx::pool::PoolOptions<sea_orm::sqlx::MySql> {
    options.after_connect(move |_, _| {
        let server = server.clone();
        Box::pin(async move {
            nodelay::on_sockets_to(&server);
            Ok(())
        })
    })
}

/// The connection the hot write paths (scans, claims, send outcomes) go through: the
/// journal's ([`crate::quote::outbox::journal`]).
pub enum Writer {
    /// An in-memory SQLite database: the shared pool, it exists once per connection.
    Pool(DatabaseConnection),
    /// MySQL/MariaDB: a connection of its own ([`mysql_writer`]), outside the pool.
    MySql(Box<mysql_writer::MySqlWriter>),
    /// A SQLite file: a connection of its own ([`dedicated`]). SQLite lets one writer
    /// in at a time, and a writer that finds the lock held sleeps in SQLite's busy
    /// handler (1, 2, 5, 10… ms) before looking again, which under load put tens of
    /// milliseconds on pushes; writes queued for one connection take their turn at once.
    Dedicated(dedicated::Dedicated),
}

pub async fn connect_writer(
    url: &str,
    shared: &DatabaseConnection,
    sync: Synchronous,
) -> anyhow::Result<Writer> {
    if shared.get_database_backend() == DbBackend::MySql {
        return mysql_writer::MySqlWriter::new(url)
            .await
            .map(|own| Writer::MySql(Box::new(own)))
            .with_context(|| "DATABASE_URL: cannot open the database for writing");
    }
    if url.contains(":memory:") {
        return Ok(Writer::Pool(shared.clone()));
    }
    dedicated::Dedicated::open(url, sync)
        .map(Writer::Dedicated)
        .with_context(|| "DATABASE_URL: cannot open the database for writing")
}

/// Every SQLite connection: temporary files in memory. A multi-row insert that may meet
/// a unique index keeps a statement journal to undo itself, and SQLite's default puts
/// it in a temporary file: a `write` for every page the journal's batches touched.
fn sqlite_options(
    options: sea_orm::sqlx::sqlite::SqliteConnectOptions,
) -> sea_orm::sqlx::sqlite::SqliteConnectOptions {
    options.pragma("temp_store", "memory")
}

/// Every SQLite connection: query plans that do not depend on the values bound.
///
/// Otherwise SQLite (built with STAT4, as sqlx builds it) marks a statement whose
/// plan could use a bound value, which includes every `LIMIT ?` and so every `.one()`,
/// and compiles it again each time it is run with its values bound anew: sqlx keeps
/// statements prepared, and SQLite threw the work away on every execution. With the
/// query planner stability guarantee (`SQLITE_DBCONFIG_ENABLE_QPSG`) the plan made once
/// is kept; nothing here runs `ANALYZE`, so there were no statistics to gain from.
fn stable_query_plans(
    options: sea_orm::sqlx::pool::PoolOptions<sea_orm::sqlx::Sqlite>,
) -> sea_orm::sqlx::pool::PoolOptions<sea_orm::sqlx::Sqlite> {
    options.after_connect(|conn, _| {
        Box::pin(async move {
            match keep_query_plans(conn, 1).await? {
                Ok(true) => Ok(()),
                Ok(false) => Err("it stayed off".to_owned()),
                Err(rc) => Err(format!("error {rc}")),
            }
            .map_err(|why| {
                sea_orm::sqlx::Error::Configuration(
                    format!("SQLite refused the query planner stability guarantee: {why}").into(),
                )
            })
        })
    })
}

/// Sets the connection's query planner stability guarantee (`on` 1 or 0; -1 leaves it)
/// and says whether it is on now, or SQLite's error code.
async fn keep_query_plans(
    conn: &mut sea_orm::sqlx::SqliteConnection,
    on: std::ffi::c_int,
) -> Result<Result<bool, std::ffi::c_int>, sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let mut now_on: std::ffi::c_int = -1;
    // SAFETY: the handle is this connection's, open and held locked for the call; the
    // option takes an int and a pointer to an int, as passed.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            handle.as_raw_handle().as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            on,
            &mut now_on as *mut std::ffi::c_int,
        )
    };
    Ok(match rc {
        libsqlite3_sys::SQLITE_OK => Ok(now_on == 1),
        rc => Err(rc),
    })
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("running database migrations")
}

#[cfg(test)]
pub(crate) mod tests;
