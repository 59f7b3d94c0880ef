//! What a database error means for the caller, read from the driver's own codes (never
//! from the message text, which differs between servers, versions and languages).

use sea_orm::sqlx::error::{DatabaseError, ErrorKind};
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// How often a transaction that hit [`is_retryable`] is run again.
pub const TRANSACTION_TRIES: u32 = 5;

/// Errors after which running the same transaction again is the remedy: a MySQL/MariaDB
/// deadlock (1213) or lock wait timeout (1205) between instances, or SQLite's busy or
/// locked database (result codes 5 and 6, with their extended variants).
pub fn is_retryable(e: &DbErr) -> bool {
    let Some(e) = database_error(e) else {
        return false;
    };
    if let Some(mysql) = e.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>() {
        return matches!(mysql.number(), 1205 | 1213);
    }
    if let Some(own) = e.try_downcast_ref::<super::dedicated::SqliteFailure>() {
        return matches!(own.code() & 0xff, 5 | 6);
    }
    if e.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // SQLite's code is the extended result code; its low byte is the primary one.
        return e
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6));
    }
    false
}

/// The statement met a unique index: the row is there already.
pub fn is_duplicate(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
        || database_error(e).is_some_and(|e| {
            // sea-orm knows sqlx's SQLite errors, not those of the journal's connection.
            e.try_downcast_ref::<super::dedicated::SqliteFailure>()
                .is_some_and(|own| own.kind() == ErrorKind::UniqueViolation)
        })
}

/// The database's own error inside `e`, if that is what it is.
pub(super) fn database_error(e: &DbErr) -> Option<&dyn DatabaseError> {
    let (DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e))) = e
    else {
        return None;
    };
    match &**e {
        sea_orm::sqlx::Error::Database(e) => Some(&**e),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnectionTrait, Database};

    #[tokio::test]
    async fn a_busy_sqlite_database_is_retryable_and_a_syntax_error_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let a = Database::connect(&url).await.unwrap();
        let mut one = sea_orm::ConnectOptions::new(url.clone());
        one.max_connections(1);
        let b = Database::connect(one).await.unwrap();
        a.execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        b.execute_unprepared("PRAGMA busy_timeout = 0")
            .await
            .unwrap();
        // `a` holds the write lock; `b`'s write finds the database busy at once.
        let txn = sea_orm::TransactionTrait::begin(&a).await.unwrap();
        txn.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let busy = b
            .execute_unprepared("INSERT INTO t VALUES (2)")
            .await
            .unwrap_err();
        assert!(is_retryable(&busy), "{busy}");
        txn.commit().await.unwrap();
        let wrong = a
            .execute_unprepared("INSERT INTO nowhere VALUES (1)")
            .await
            .unwrap_err();
        assert!(!is_retryable(&wrong), "{wrong}");
        assert!(!is_retryable(&DbErr::Custom("database is locked".into())));
    }

    #[tokio::test]
    async fn a_second_row_with_a_unique_value_is_a_duplicate() {
        let a = Database::connect("sqlite::memory:").await.unwrap();
        a.execute_unprepared("CREATE TABLE t (x INTEGER UNIQUE)")
            .await
            .unwrap();
        a.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let again = a
            .execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap_err();
        assert!(is_duplicate(&again), "{again}");
    }
}
