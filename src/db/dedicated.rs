//! The journal's own SQLite connection: statements run on the thread that issues them.
//!
//! Through sqlx, every statement is a message to the connection's worker thread and an
//! answer back, two thread wake-ups, and a group commit is seven or eight statements.
//! On two shared cores a wake-up waits for a core, and a batch spent most of its time
//! so: measured under the bench's paced load, `BEGIN` alone took 1.3 ms a batch and the
//! journal was busy 95% of every second writing 1,000 scans. This connection is a
//! rusqlite one, driven by the journal's thread ([`crate::quote::outbox::journal`]);
//! the statements are the same ones sea-orm builds for MySQL, run through [`Execute`]
//! where they are built, so a statement that waits (an fsync, a lock held by another
//! connection) blocks nothing but the journal.
//!
//! It writes, in explicit `BEGIN IMMEDIATE` and `COMMIT` transactions
//! ([`Dedicated::transaction`]), and reads ([`Dedicated::rows`]) only what the
//! journal's transactions must see under their write lock: what a transaction just
//! wrote, its pages still in this connection's cache, and the replay guard's rows
//! added since the journal last looked (`outbox::journal::recent`). Other reads go to
//! the shared pool. Its commits' pages are copied into the database file by a
//! thread of their own ([`checkpointer`](super::checkpointer)).

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sea_orm::sqlx::error::{DatabaseError, ErrorKind};
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::{DbBackend, DbErr, RuntimeErr, Statement, StatementBuilder, Value};

use super::Synchronous;
use super::checkpointer::{Checkpointer, WRITER_CHECKPOINT_PAGES};
use super::execute::Execute;
use super::shaped::{self, Param, Shape};

/// How long a statement waits for another connection's write lock, as sqlx's default.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept: a batch's inserts differ by their number of rows.
const STATEMENT_CACHE: usize = 256;

/// A connection for one thread's writes; see the module's comment. The mutex is never
/// contended (one thread writes); it makes the connection `Sync`, which the journal's
/// future must be to run as a task on MySQL, and is locked for one statement at a time.
pub struct Dedicated {
    conn: Arc<Mutex<rusqlite::Connection>>,
    /// The SQL text of each [`Shape`] met ([`Execute::queue_shaped`]): made once, not
    /// rendered again for every batch. A few a site (the journal's runs and lists come
    /// in a few lengths, [`Execute::runs`]).
    texts: Mutex<HashMap<Shape, String>>,
    /// Copies what the commits write into the database file
    /// ([`checkpointer`](super::checkpointer)).
    checkpointer: Checkpointer,
}

impl Dedicated {
    /// Opens the database file of `url` (created by the shared pool's migrations by now)
    /// with the shared pool's settings: WAL, foreign keys, `sync`, stable query plans.
    pub fn open(url: &str, sync: Synchronous) -> anyhow::Result<Dedicated> {
        let options: SqliteConnectOptions = url.parse()?;
        let conn = rusqlite::Connection::open(options.get_filename())?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "temp_store", "memory")?;
        conn.pragma_update(None, "synchronous", sync.pragma())?;
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        let qpsg = rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG;
        if !conn.set_db_config(qpsg, true)? {
            anyhow::bail!("SQLite refused the query planner stability guarantee");
        }
        let checkpointer = Checkpointer::spawn(options.get_filename(), sync)?;
        Ok(Dedicated {
            conn: Arc::new(Mutex::new(conn)),
            texts: Mutex::default(),
            checkpointer,
        })
    }

    fn lock(&self) -> MutexGuard<'_, rusqlite::Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the connection runs with: `PRAGMA name`'s answer.
    pub fn setting(&self, name: &str) -> rusqlite::Result<i64> {
        self.lock().pragma_query_value(None, name, |row| row.get(0))
    }

    /// Whether the query planner stability guarantee is on.
    pub fn keeps_query_plans(&self) -> rusqlite::Result<bool> {
        self.lock()
            .db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG)
    }

    /// Runs `work` in one transaction, committed if it returns `Ok`, else rolled back.
    /// `Ok` means committed: a failed `COMMIT` is the error returned.
    pub async fn transaction<T>(
        &self,
        work: impl AsyncFnOnce(&Dedicated) -> Result<T, DbErr>,
    ) -> Result<T, DbErr> {
        // IMMEDIATE takes the write lock first: a write that met another connection's
        // lock midway could not wait for it without risking a deadlock.
        self.batch("BEGIN IMMEDIATE")?;
        let done = match work(self).await {
            Ok(done) => done,
            Err(e) => {
                self.rollback();
                return Err(e);
            }
        };
        match self.batch("COMMIT") {
            Ok(()) => {
                self.checkpointer.committed();
                Ok(done)
            }
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    /// The rows `select` finds, each made by `decode` from SQLite's row.
    pub fn rows<T>(
        &self,
        select: &impl StatementBuilder,
        mut decode: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, DbErr> {
        let statement = select.build(&DbBackend::Sqlite);
        let conn = self.lock();
        let found = (|| {
            let mut prepared = prepare(&conn, &statement.sql, &statement)?;
            let mut rows = prepared.raw_query();
            let mut found = Vec::new();
            while let Some(row) = rows.next()? {
                found.push(decode(row)?);
            }
            Ok(found)
        })();
        found.map_err(|e: rusqlite::Error| exec_err(&e))
    }

    /// Runs `sql`, a statement without values or rows (`BEGIN`, `COMMIT`,
    /// `ROLLBACK`), kept prepared: `execute_batch` would parse it again every time.
    fn batch(&self, sql: &str) -> Result<(), DbErr> {
        let conn = self.lock();
        let done = conn.prepare_cached(sql).and_then(|mut s| s.raw_execute());
        done.map(|_| ()).map_err(|e| exec_err(&e))
    }

    /// Runs the statement of `shape`, its text made by `build` the first time, with
    /// `params` bound as they are: as many as the text takes, or an error.
    fn run_shaped<S: StatementBuilder>(
        &self,
        shape: Shape,
        params: &[Param<'_>],
        build: impl FnOnce() -> S,
    ) -> Result<usize, DbErr> {
        let mut texts = self.texts.lock().unwrap_or_else(|e| e.into_inner());
        let sql = match texts.entry(shape) {
            std::collections::hash_map::Entry::Occupied(kept) => kept.into_mut(),
            std::collections::hash_map::Entry::Vacant(new) => {
                let statement = build().build(&DbBackend::Sqlite);
                let values = statement.values.as_ref().map_or(&[][..], |v| &v.0);
                if !shaped::takes(values, params) {
                    return Err(DbErr::Custom(format!(
                        "a statement's values are not in the order given: {}",
                        statement.sql
                    )));
                }
                new.insert(rolling_back(&statement.sql).into_owned())
            }
        };
        let conn = self.lock();
        let mut prepared = conn.prepare_cached(sql).map_err(|e| exec_err(&e))?;
        // Checked on every call, not only the first: values left unbound would be
        // written as NULL (the cache clears a statement's bindings).
        if prepared.parameter_count() != params.len() {
            return Err(DbErr::Custom(format!(
                "a statement of {} values given {}: {sql}",
                prepared.parameter_count(),
                params.len()
            )));
        }
        let bound = params
            .iter()
            .zip(1..)
            .try_for_each(|(&param, i)| prepared.raw_bind_parameter(i, BoundParam(param)));
        bound
            .and_then(|()| prepared.raw_execute())
            .map_err(|e| exec_err(&e))
    }

    fn rollback(&self) {
        // Fails only when there is no transaction left to roll back (SQLite ended it).
        let _ = self.batch("ROLLBACK");
    }
}

impl Execute for Dedicated {
    fn run<S: StatementBuilder + Sync>(
        &self,
        statement: &S,
    ) -> impl Future<Output = Result<u64, DbErr>> + Send {
        let statement = statement.build(&DbBackend::Sqlite);
        let changed = run(&self.lock(), &statement)
            .map(|n| n as u64)
            .map_err(|e| exec_err(&e));
        std::future::ready(changed)
    }

    fn queue_shaped<S: StatementBuilder + Send + Sync>(
        &self,
        shape: Shape,
        params: &[Param<'_>],
        build: impl FnOnce() -> S + Send,
    ) -> impl Future<Output = Result<(), DbErr>> + Send {
        std::future::ready(self.run_shaped(shape, params, build).map(|_| ()))
    }
}

fn run(conn: &rusqlite::Connection, statement: &Statement) -> rusqlite::Result<usize> {
    prepare(conn, &rolling_back(&statement.sql), statement)?.raw_execute()
}

/// `sql`, an `INSERT` or `UPDATE`, made to end the whole transaction should a
/// constraint fail (`OR ROLLBACK`), as [`Dedicated::transaction`] does with any error
/// anyway. Left to abort only itself (SQLite's default), a statement over many rows in
/// a transaction keeps a statement journal: a copy of each page it changes, so it can
/// be undone alone. That copying was 5.9% of the journal thread's samples. An
/// `ON CONFLICT` clause still decides the conflicts it names.
fn rolling_back(sql: &str) -> Cow<'_, str> {
    if let Some(rest) = sql.strip_prefix("INSERT INTO ") {
        Cow::Owned(format!("INSERT OR ROLLBACK INTO {rest}"))
    } else if let Some(rest) = sql.strip_prefix("UPDATE ") {
        Cow::Owned(format!("UPDATE OR ROLLBACK {rest}"))
    } else {
        Cow::Borrowed(sql)
    }
}

/// `sql` (`statement`'s, or a form of it) prepared, or found prepared, with
/// `statement`'s values bound.
fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    statement: &Statement,
) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    let mut prepared = conn.prepare_cached(sql)?;
    for (i, value) in statement.values.iter().flat_map(|v| &v.0).enumerate() {
        prepared.raw_bind_parameter(i + 1, Bound(value))?;
    }
    Ok(prepared)
}

/// A sea-query value bound as SQLite stores it, as sqlx binds it: integers, reals,
/// text and blobs; anything else (dates, JSON) is not a type the entities use.
struct Bound<'a>(&'a Value);

impl rusqlite::ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as Sql, ValueRef};
        let owned = |v: Option<Sql>| ToSqlOutput::Owned(v.unwrap_or(Sql::Null));
        let int = |v: Option<i64>| owned(v.map(Sql::Integer));
        Ok(match self.0 {
            Value::Bool(v) => int(v.map(i64::from)),
            Value::TinyInt(v) => int(v.map(i64::from)),
            Value::SmallInt(v) => int(v.map(i64::from)),
            Value::Int(v) => int(v.map(i64::from)),
            Value::BigInt(v) => int(*v),
            Value::TinyUnsigned(v) => int(v.map(i64::from)),
            Value::SmallUnsigned(v) => int(v.map(i64::from)),
            Value::Unsigned(v) => int(v.map(i64::from)),
            Value::BigUnsigned(v) => int(v
                .map(i64::try_from)
                .transpose()
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?),
            Value::Float(v) => owned(v.map(|v| Sql::Real(f64::from(v)))),
            Value::Double(v) => owned(v.map(Sql::Real)),
            Value::String(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Char(Some(v)) => owned(Some(Sql::Text(v.to_string()))),
            Value::Bytes(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Value::String(None) | Value::Char(None) | Value::Bytes(None) => owned(None),
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("no SQLite binding for {other:?}").into(),
                ));
            }
        })
    }
}

/// A value of a shaped statement, bound as it is borrowed.
struct BoundParam<'a>(Param<'a>);

impl rusqlite::ToSql for BoundParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as Sql, ValueRef};
        Ok(match self.0 {
            Param::Int(Some(v)) => ToSqlOutput::Owned(Sql::Integer(v)),
            Param::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Param::Int(None) | Param::Text(None) => ToSqlOutput::Owned(Sql::Null),
        })
    }
}

/// SQLite's error, as the rest of the code reads database errors ([`super::errors`]):
/// its extended result code, as sqlx reports it.
#[derive(Debug, thiserror::Error)]
#[error("{message} (SQLite error {code})")]
pub struct SqliteFailure {
    code: i32,
    message: String,
}

impl SqliteFailure {
    /// SQLite's extended result code.
    pub fn code(&self) -> i32 {
        self.code
    }
}

pub(crate) fn exec_err(e: &rusqlite::Error) -> DbErr {
    let failure = match e {
        rusqlite::Error::SqliteFailure(f, message) => SqliteFailure {
            code: f.extended_code,
            message: message.clone().unwrap_or_else(|| f.to_string()),
        },
        // Not SQLite's: a value it could not bind, a statement it did not expect.
        other => return DbErr::Exec(RuntimeErr::Internal(other.to_string())),
    };
    let e = sea_orm::sqlx::Error::Database(Box::new(failure));
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
}

impl DatabaseError for SqliteFailure {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        // SQLITE_CONSTRAINT_PRIMARYKEY, _UNIQUE, _FOREIGNKEY, _NOTNULL, _CHECK.
        match self.code {
            1555 | 2067 => ErrorKind::UniqueViolation,
            787 => ErrorKind::ForeignKeyViolation,
            1299 => ErrorKind::NotNullViolation,
            275 => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests;
