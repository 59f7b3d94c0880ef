//! Where a write transaction's statements go: a sea-orm connection or transaction, or
//! the journal's own SQLite connection ([`super::dedicated`]). The code that writes
//! builds its statements with sea-orm either way and runs them through [`Execute`].

use std::future::Future;

use sea_orm::{ConnectionTrait, DbErr, StatementBuilder};

pub trait Execute {
    /// Runs `statement`; the number of rows it changed.
    fn run<S: StatementBuilder + Sync>(
        &self,
        statement: &S,
    ) -> impl Future<Output = Result<u64, DbErr>> + Send;
}

impl<C: ConnectionTrait + Sync> Execute for C {
    async fn run<S: StatementBuilder + Sync>(&self, statement: &S) -> Result<u64, DbErr> {
        Ok(self.execute(statement).await?.rows_affected())
    }
}
