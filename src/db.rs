//! Database connection and migrations.

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
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .with_context(|| "DATABASE_URL: cannot connect to the database")?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // WAL lets the pages read while the callback and the worker write.
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Ok(db)
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
