//! Where a write transaction's statements go: a sea-orm connection or transaction, or
//! the journal's own SQLite connection ([`super::dedicated`]). The code that writes
//! builds its statements with sea-orm either way and runs them through [`Execute`].

use std::future::Future;

use sea_orm::sea_query::{Condition, Expr, ExprTrait, IntoColumnRef};
use sea_orm::{ConnectionTrait, DbErr, StatementBuilder};

use super::shaped::{Param, Rows, Shape};

pub trait Execute: Sync {
    /// Runs `statement`; the number of rows it changed.
    fn run<S: StatementBuilder + Sync>(
        &self,
        statement: &S,
    ) -> impl Future<Output = Result<u64, DbErr>> + Send;

    /// Runs `statement`, or holds it to go to the database with the next statement
    /// run or the commit, in order: for a statement whose count of rows changed no
    /// one reads. Its error, if it fails, is then that later call's.
    /// ([`super::mysql_writer`] holds them: a round trip saved each.)
    fn queue<S: StatementBuilder + Sync>(
        &self,
        statement: &S,
    ) -> impl Future<Output = Result<(), DbErr>> + Send {
        async move { self.run(statement).await.map(|_| ()) }
    }

    /// Runs the statement `build` makes, whose text `shape` names and whose values are
    /// `params`, in the order its text takes them; or holds it as [`Self::queue`] does.
    /// Here `build` makes it each time; the journal's SQLite connection makes it once a
    /// shape, keeps its text and binds `params` as they are ([`super::shaped`]).
    fn queue_shaped<S: StatementBuilder + Send + Sync>(
        &self,
        shape: Shape,
        params: &[Param<'_>],
        build: impl FnOnce() -> S + Send,
    ) -> impl Future<Output = Result<(), DbErr>> + Send {
        let _ = (shape, params);
        let statement = build();
        async move { self.queue(&statement).await }
    }

    /// Inserts `rows`, or holds the insert to go later as [`Self::queue`] does.
    fn insert(&self, rows: &Rows<'_>) -> impl Future<Output = Result<(), DbErr>> + Send {
        self.queue_shaped(rows.shape(), rows.values(), || rows.statement())
    }

    /// Whether statements are prepared and kept by their text, so that a statement
    /// over many rows is best made in a few shapes ([`super::batch`]). Not on the
    /// MySQL journal's connection, which sends each as literal text: there a list
    /// split or lengthened for the sake of its shape is only more to parse.
    fn keeps_prepared(&self) -> bool {
        true
    }

    /// Whether the statements go in order through one session whose selected rows come
    /// back with the commit (the MySQL journal's connection, [`super::mysql_writer`]):
    /// a statement may then use the ids the insert before it generated
    /// (`LAST_INSERT_ID()`), and a `SELECT` queued among them reads them, where
    /// elsewhere a statement finds the rows just written again by a key.
    fn numbers_in_session(&self) -> bool {
        false
    }

    /// `items` in runs for one statement each: in a few shapes where statements are
    /// kept prepared ([`super::chunks`]), else as few as fit.
    fn runs<'a, T>(&self, items: &'a [T]) -> Vec<&'a [T]> {
        if self.keeps_prepared() {
            super::chunks(items).collect()
        } else {
            items.chunks(super::batch::MAX_CHUNK).collect()
        }
    }

    /// `items` for an `IN (…)` list: padded to a few shapes where statements are kept
    /// prepared ([`super::padded`]), else as they are.
    fn in_list<T: Clone>(&self, items: &[T]) -> Vec<T> {
        if self.keeps_prepared() {
            super::padded(items)
        } else {
            items.to_vec()
        }
    }

    /// `column` is one of `ids` (a run of [`Self::runs`]): as an `IN (…)` list where
    /// statements are kept prepared, so that its shape is the run's length, else with
    /// the runs of consecutive ids as ranges ([`super::batch::ranges_of`]).
    fn among<C: IntoColumnRef + Clone>(&self, column: C, ids: &[i64]) -> Condition {
        if self.keeps_prepared() {
            Condition::all().add(Expr::col(column).is_in(ids.iter().copied()))
        } else {
            super::batch::ranges_of(column, ids)
        }
    }
}

impl<C: ConnectionTrait + Sync> Execute for C {
    async fn run<S: StatementBuilder + Sync>(&self, statement: &S) -> Result<u64, DbErr> {
        Ok(self.execute(statement).await?.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An executor that runs nothing, keeping statements prepared or not.
    struct Literal(bool);

    impl Execute for Literal {
        async fn run<S: StatementBuilder + Sync>(&self, _: &S) -> Result<u64, DbErr> {
            Ok(0)
        }

        fn keeps_prepared(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn lists_take_few_shapes_only_where_statements_are_kept_prepared() {
        let ids: Vec<i64> = (0..19).collect();
        let lengths = |e: &Literal| e.runs(&ids).iter().map(|r| r.len()).collect::<Vec<_>>();
        assert_eq!(lengths(&Literal(true)), [16, 2, 1]);
        assert_eq!(lengths(&Literal(false)), [19]);
        assert_eq!(Literal(true).in_list(&ids[..3]), [0, 1, 2, 2]);
        assert_eq!(Literal(false).in_list(&ids[..3]), [0, 1, 2]);
        // Either way no statement is over the chunk's size.
        let many: Vec<i64> = (0..600).collect();
        let most = |e: &Literal| e.runs(&many).iter().map(|r| r.len()).max();
        assert_eq!(most(&Literal(false)), Some(crate::db::batch::MAX_CHUNK));
        assert_eq!(most(&Literal(true)), Some(crate::db::batch::MAX_CHUNK));
    }

    #[test]
    fn ids_are_ranges_only_where_statements_are_not_kept_prepared() {
        use sea_orm::sea_query::{Alias, MysqlQueryBuilder, Query};
        let sql = |e: &Literal| {
            Query::select()
                .column(Alias::new("id"))
                .from(Alias::new("deliveries"))
                .cond_where(e.among(Alias::new("id"), &[1, 2, 3, 7]))
                .to_string(MysqlQueryBuilder)
        };
        assert_eq!(
            sql(&Literal(true)),
            "SELECT `id` FROM `deliveries` WHERE `id` IN (1, 2, 3, 7)"
        );
        assert_eq!(
            sql(&Literal(false)),
            "SELECT `id` FROM `deliveries` WHERE (`id` BETWEEN 1 AND 3) OR `id` IN (7)"
        );
    }
}
