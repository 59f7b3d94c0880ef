//! What the journal knows from memory of the rows a SQLite file holds, in place of
//! indexes whose entries would land on a page each (`recent` for the replay guard's
//! signatures, `identities` for WeChat's retries), and how it reads the rows it learns
//! them from: inside its own transaction, through whichever connection writes.
//! (On MySQL the tables' keys judge, and the memory stays empty.)

use std::sync::atomic::Ordering;

use sea_orm::sea_query::{Alias, Expr, SelectStatement};
use sea_orm::{DatabaseTransaction, DbErr, QueryResult};

use super::identities::Identities;
use super::recent::Recent;
use crate::db::dedicated::{Dedicated, exec_err};
use crate::metrics::Metrics;

/// The journal's memory of a SQLite file's rows.
#[derive(Default)]
pub struct Memory {
    pub signatures: Recent,
    pub identities: Identities,
}

impl Memory {
    /// Says in `/metrics` how much it holds.
    pub fn report(&self, metrics: &Metrics) {
        let held = [
            (
                &metrics.replay_guard_signatures,
                self.signatures.remembered(),
            ),
            (
                &metrics.retry_guard_identities,
                self.identities.remembered(),
            ),
        ];
        for (gauge, n) in held {
            gauge.store(n as u64, Ordering::Relaxed);
        }
    }
}

/// The values of one row as read, by column, from either connection.
pub trait Cells {
    fn int(&self, column: usize) -> Result<Option<i64>, DbErr>;
    fn text(&self, column: usize) -> Result<Option<String>, DbErr>;
}

impl Cells for rusqlite::Row<'_> {
    fn int(&self, column: usize) -> Result<Option<i64>, DbErr> {
        self.get(column).map_err(|e| exec_err(&e))
    }

    fn text(&self, column: usize) -> Result<Option<String>, DbErr> {
        self.get(column).map_err(|e| exec_err(&e))
    }
}

impl Cells for QueryResult {
    fn int(&self, column: usize) -> Result<Option<i64>, DbErr> {
        self.try_get_by_index(column)
    }

    fn text(&self, column: usize) -> Result<Option<String>, DbErr> {
        self.try_get_by_index(column)
    }
}

/// A row made from what a select read.
pub trait FromCells: Sized {
    fn from_cells(row: &impl Cells) -> Result<Self, DbErr>;
}

/// The column `name` of the table a memory's selects read.
pub fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

/// A column that must hold a value.
pub fn given<T>(value: Option<T>, what: &str) -> Result<T, DbErr> {
    value.ok_or_else(|| DbErr::Custom(format!("{what} read as NULL")))
}

/// What reads the tables inside the journal's transaction.
pub trait ReadRows: Sync {
    /// The rows `select` finds.
    fn read<T: FromCells + Send>(
        &self,
        select: &SelectStatement,
    ) -> impl Future<Output = Result<Vec<T>, DbErr>>;
}

impl ReadRows for Dedicated {
    async fn read<T: FromCells + Send>(&self, select: &SelectStatement) -> Result<Vec<T>, DbErr> {
        // Decoded after the statement has run: `rows` speaks rusqlite's errors.
        let rows = Dedicated::rows(self, select, |r| Ok(T::from_cells(r)))?;
        rows.into_iter().collect()
    }
}

impl ReadRows for DatabaseTransaction {
    async fn read<T: FromCells + Send>(&self, select: &SelectStatement) -> Result<Vec<T>, DbErr> {
        use sea_orm::ConnectionTrait;
        let rows = self.query_all(select).await?;
        rows.iter().map(T::from_cells).collect()
    }
}

/// A select of one integer (`MIN(id)`, `MAX(id)`): `None` for no row or `NULL`.
pub struct One(pub Option<i64>);

impl FromCells for One {
    fn from_cells(row: &impl Cells) -> Result<Self, DbErr> {
        row.int(0).map(One)
    }
}

/// The one integer `select` reads, if any.
pub async fn one(conn: &impl ReadRows, select: &SelectStatement) -> Result<Option<i64>, DbErr> {
    let found: Vec<One> = conn.read(select).await?;
    Ok(found.into_iter().next().and_then(|One(v)| v))
}
