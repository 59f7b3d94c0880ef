//! Where a write transaction's statements go: a sea-orm connection or transaction, or
//! the journal's own SQLite connection ([`super::dedicated`]). The code that writes
//! builds its statements with sea-orm either way and runs them through [`Execute`].

use std::future::Future;

use sea_orm::{ConnectionTrait, DbErr, StatementBuilder};

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
}

impl<C: ConnectionTrait + Sync> Execute for C {
    async fn run<S: StatementBuilder + Sync>(&self, statement: &S) -> Result<u64, DbErr> {
        Ok(self.execute(statement).await?.rows_affected())
    }
}
