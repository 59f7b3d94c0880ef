//! Database connection and migrations.
//!
//! A query's future is large (sea-orm's and sqlx's state together take kilobytes), and
//! an `async fn` that awaits one holds that much in its own future even on the path that
//! never queries. On the hot paths (a push, a send) a cache answers nearly always, so
//! there the rare query is boxed: otherwise every send's task, which tokio copies
//! whole when it spawns and finishes it, carried ~10 KB for queries it did not make.

use std::time::Duration;

use anyhow::Context;
use entity::lease;
use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, Set,
};

pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if url.starts_with("sqlite:") { 8 } else { 16 })
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(sqlite_options)
        .map_sqlx_sqlite_pool_opts(stable_query_plans);
    let db = Database::connect(options)
        .await
        .with_context(|| "DATABASE_URL: cannot connect to the database")?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // WAL lets the pages read while the callback and the worker write.
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Ok(db)
}

/// The connection the hot write paths (scan writer, claims, send outcomes) go through.
///
/// On SQLite, a connection of its own. SQLite lets one writer in at a time, and a writer
/// that finds the lock held sleeps in SQLite's busy handler (1, 2, 5, 10… ms) before
/// looking again, which under load put tens of milliseconds on pushes; writers queued
/// on one connection wait their turn in the process instead, and take it at once. On
/// MySQL/MariaDB, the shared pool: the server takes concurrent writers itself.
pub async fn connect_writer(
    url: &str,
    shared: &DatabaseConnection,
) -> anyhow::Result<DatabaseConnection> {
    // An in-memory database exists once per connection: its writes must share them.
    if shared.get_database_backend() != DbBackend::Sqlite || url.contains(":memory:") {
        return Ok(shared.clone());
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(sqlite_options)
        .map_sqlx_sqlite_pool_opts(stable_query_plans);
    Database::connect(options)
        .await
        .with_context(|| "DATABASE_URL: cannot connect to the database")
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

/// Takes the lease `name` for `duration_ms` if nobody holds it. The conditional update
/// is atomic, so of several instances exactly one wins.
pub async fn take_lease(
    db: &DatabaseConnection,
    name: &str,
    duration_ms: i64,
) -> Result<bool, DbErr> {
    let now = crate::now_ms();
    let row = lease::ActiveModel {
        name: Set(name.to_owned()),
        until_ms: Set(0),
    };
    match lease::Entity::insert(row)
        .on_conflict(
            OnConflict::column(lease::Column::Name)
                .do_nothing_on([lease::Column::Name])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
    {
        Ok(_) | Err(DbErr::RecordNotInserted) => {}
        Err(e) => return Err(e),
    }
    let taken = lease::Entity::update_many()
        .col_expr(lease::Column::UntilMs, Expr::value(now + duration_ms))
        .filter(lease::Column::Name.eq(name))
        .filter(lease::Column::UntilMs.lt(now))
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Gives a lease back early.
pub async fn release_lease(db: &DatabaseConnection, name: &str) -> Result<(), DbErr> {
    lease::Entity::delete_by_id(name.to_owned())
        .exec(db)
        .await
        .map(|_| ())
}

/// Errors after which running the same transaction again is the remedy: a MySQL/MariaDB
/// deadlock or lock wait timeout between instances, or SQLite's busy database.
pub fn is_retryable(e: &DbErr) -> bool {
    let text = e.to_string();
    [
        "Deadlock found",
        "1213",
        "Lock wait timeout",
        "1205",
        "database is locked",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// How often a transaction that hit [`is_retryable`] is run again.
pub const TRANSACTION_TRIES: u32 = 5;

/// Rows per multi-row statement at most.
pub const MAX_CHUNK: usize = 256;

/// Splits `items` into runs whose lengths are powers of two, largest first, none over
/// [`MAX_CHUNK`]. A statement over many rows then comes in one of a handful of shapes,
/// each prepared once and reused, instead of one shape per batch size, each a large
/// prepared statement that would sit in every connection's statement cache.
pub fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = MAX_CHUNK.min(1 << rest.len().ilog2());
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        Some(chunk)
    })
}

/// `items` for an `IN (…)` list, lengthened to a power of two by repeating the last
/// one (which changes nothing a set membership test decides). A statement whose list
/// length follows the batch size comes in as many shapes as there are sizes, each
/// prepared anew once it has fallen out of the connection's statement cache; padded,
/// it comes in at most ten shapes, which stay prepared.
pub fn padded<T: Clone>(items: &[T]) -> Vec<T> {
    let mut list = items.to_vec();
    if let Some(last) = items.last() {
        list.resize(items.len().next_power_of_two(), last.clone());
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query planner stability guarantee as the connection has it (-1 only asks).
    async fn keeps_plans(conn: &mut sea_orm::sqlx::SqliteConnection) -> bool {
        keep_query_plans(conn, -1)
            .await
            .expect("the connection's handle")
            .expect("SQLite answers the question")
    }

    #[tokio::test]
    async fn every_sqlite_connection_keeps_its_query_plans_whatever_is_bound() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let shared = connect(&url).await.unwrap();
        let writer = connect_writer(&url, &shared).await.unwrap();
        // All of the shared pool's connections at once, so each is a distinct one.
        let pool = shared.get_sqlite_connection_pool();
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(pool.acquire().await.unwrap());
        }
        for conn in &mut held {
            assert!(keeps_plans(conn).await, "a shared connection");
        }
        let mut conn = writer.get_sqlite_connection_pool().acquire().await.unwrap();
        assert!(keeps_plans(&mut conn).await, "the writer");
    }

    #[test]
    fn padded_lists_are_powers_of_two_with_the_same_members() {
        assert_eq!(padded::<u8>(&[]), Vec::<u8>::new());
        assert_eq!(padded(&[7]), [7]);
        assert_eq!(padded(&[1, 2, 3]), [1, 2, 3, 3]);
        assert_eq!(padded(&[1, 2, 3, 4]), [1, 2, 3, 4]);
        let long: Vec<u32> = (0..300).collect();
        let p = padded(&long);
        assert_eq!(p.len(), 512);
        assert_eq!(&p[..300], &long[..]);
        assert!(p[300..].iter().all(|&x| x == 299));
    }

    #[test]
    fn chunks_are_powers_of_two_largest_first_and_cover_everything() {
        let sizes = |n: usize| {
            let items: Vec<usize> = (0..n).collect();
            let parts: Vec<&[usize]> = chunks(&items).collect();
            assert_eq!(parts.concat(), items, "{n} items in order, each once");
            parts.iter().map(|p| p.len()).collect::<Vec<_>>()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(7), [4, 2, 1]);
        assert_eq!(sizes(300), [256, 32, 8, 4]);
        assert_eq!(sizes(512), [256, 256]);
        assert_eq!(sizes(600), [256, 256, 64, 16, 8]);
    }
}
