//! What expires is swept in the background, once a minute, rather than by the requests
//! that make it: the signatures of past pushes (kept for the timestamp window, see
//! `outbox::enqueue`), web authorization states never finished, console sessions
//! ended. A failed sweep is logged and tried again at the next.

use std::time::Duration;

use entity::{admin_session, oauth_state, push_signature};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    Statement,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::authorization::STATE_TTL_MS;
use crate::now_ms;

/// How often the sweeper runs.
const EVERY: Duration = Duration::from_secs(60);
/// Push signatures are kept at least this long, whatever the timestamp window.
const MIN_SIGNATURE_KEEP_MS: i64 = 10 * 60 * 1000;

/// Sweeps until `stop` is set. `window_secs` is the pushes' timestamp window.
pub fn spawn(
    db: DatabaseConnection,
    window_secs: u64,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let keep_ms = (2 * window_secs as i64 * 1000).max(MIN_SIGNATURE_KEEP_MS);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stop.changed() => return,
            }
            if let Err(e) = sweep(&db, keep_ms, now_ms()).await {
                tracing::warn!(error = %e, "sweeping expired rows failed; again in a minute");
            }
        }
    })
}

/// One sweep at `now`.
pub async fn sweep(
    db: &DatabaseConnection,
    keep_signatures_ms: i64,
    now: i64,
) -> Result<u64, DbErr> {
    let signatures = sweep_signatures(db, now - keep_signatures_ms).await?;
    let states = oauth_state::Entity::delete_many()
        .filter(oauth_state::Column::CreatedAtMs.lt(now - STATE_TTL_MS))
        .exec(db)
        .await?;
    let sessions = admin_session::Entity::delete_many()
        .filter(admin_session::Column::ExpiresAtMs.lt(now))
        .exec(db)
        .await?;
    Ok(signatures + states.rows_affected + sessions.rows_affected)
}

/// Removes the push signatures received before `cutoff`. On SQLite the table is in the
/// order rows came, with no index but its ids (`outbox::journal::recent`): the rows
/// before the first one received since `cutoff` go, found by reading from the start
/// only as far as the rows that go. (A row from an instance whose clock ran behind may
/// outlive its time by a sweep; none goes early.)
async fn sweep_signatures(db: &DatabaseConnection, cutoff: i64) -> Result<u64, DbErr> {
    if db.get_database_backend() != DbBackend::Sqlite {
        let swept = push_signature::Entity::delete_many()
            .filter(push_signature::Column::ReceivedAtMs.lt(cutoff))
            .exec(db)
            .await?;
        return Ok(swept.rows_affected);
    }
    let swept = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "DELETE FROM push_signatures WHERE id < COALESCE(\
               (SELECT id FROM push_signatures WHERE received_at_ms >= ? ORDER BY id LIMIT 1), \
               (SELECT MAX(id) + 1 FROM push_signatures))",
            [cutoff.into()],
        ))
        .await?;
    Ok(swept.rows_affected())
}
