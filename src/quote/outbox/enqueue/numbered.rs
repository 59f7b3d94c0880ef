//! On the MySQL journal's connection ([`crate::db::Execute::numbers_in_session`]), a batch's
//! messages are written with the ids the scans' insert just generated, and their own
//! ids are read in the same round trip: no statement looks the scans up again by their
//! identities (`from_scans`), and the messages handed to the worker are made here
//! instead of read back row by row.
//!
//! A multi-row `INSERT … VALUES` gives its rows consecutive ids, `auto_increment_increment`
//! apart, in every `innodb_autoinc_lock_mode` (the count of rows is known before it
//! runs), and `LAST_INSERT_ID()` answers the first of them until another statement of
//! the session generates ids. So the k-th scan of the insert has the first id plus k
//! steps.
//!
//! Measured on MariaDB 10.11, three interleaved pairs of bench runs against the
//! `INSERT … SELECT` and the read-back of the claimed rows: the journal's statements
//! alone 74.7/80.4/79.4 → 73.4/69.2/76.1 µs of the server's CPU per scan, and the
//! flat-out push case 6,455/6,832/6,336 → 7,066/7,210/6,883 pushes a second, with the
//! server's CPU per push 90/88/91 → 83/80/84 µs and the service's 108/101/113 →
//! 98/96/99 µs.

use entity::delivery;
use sea_orm::DbErr;
use sea_orm::sea_query::{Expr, InsertStatement, Query, SelectStatement};
use sea_orm::sqlx::Row;
use sea_orm::sqlx::mysql::MySqlRow;

use super::super::retry::WINDOW_MS;
use super::from_scans::MessageState;
use super::{ClaimedFor, Message, NewScan};

/// The ids the latest insert of the session generated: the first, and the step.
/// Queued right after that insert, its row comes back with the commit.
pub(super) fn ids_select() -> SelectStatement {
    Query::select()
        .expr(Expr::cust("CAST(LAST_INSERT_ID() AS SIGNED)"))
        .expr(Expr::cust("CAST(@@auto_increment_increment AS SIGNED)"))
        .to_owned()
}

/// The messages of `queued` (each scan with its row's place in the scans' insert just
/// before), due at once, claimed when `claimed` says so, as [`super::messages_for`]
/// writes them; each scan's id is the one the scans' insert gave its row.
pub(super) fn messages(
    queued: &[(usize, &NewScan)],
    claimed: Option<&ClaimedFor<'_>>,
) -> InsertStatement {
    let mut insert = Query::insert();
    insert
        .into_table(delivery::Entity)
        .columns(super::from_scans::MESSAGE_COLUMNS);
    let written = MessageState::of(Message::Queue, claimed);
    for (place, scan) in queued {
        let row = &scan.row;
        insert.values_panic([
            Expr::cust(format!(
                "LAST_INSERT_ID() + {place} * @@auto_increment_increment"
            )),
            Expr::val(row.openid.as_str()),
            Expr::val(row.order_id),
            Expr::val(written.status.as_str()),
            Expr::val(written.attempts),
            Expr::val(Option::<i64>::None),
            Expr::val(written.claim_token),
            Expr::val(row.received_at_ms),
            Expr::val(written.lease_until_ms),
            Expr::val(row.received_at_ms + WINDOW_MS),
            Expr::val(row.received_at_ms),
            Expr::val(row.received_at_ms),
        ]);
    }
    insert
}

/// The messages [`messages`] wrote claimed under `claimed`, as the database holds them:
/// `rows` are the two [`ids_select`] rows read after the scans' insert and after the
/// messages'.
pub fn claimed_messages(
    queued: &[(usize, &NewScan)],
    claimed: &ClaimedFor<'_>,
    rows: &[MySqlRow],
) -> Result<Vec<delivery::Model>, DbErr> {
    if queued.is_empty() {
        return Ok(Vec::new());
    }
    let [scans, messages] = rows else {
        return Err(not_numbered(&format!("{} rows of ids, not 2", rows.len())));
    };
    let ids = |row: &MySqlRow| -> Result<(i64, i64), DbErr> {
        let read = |i| row.try_get::<i64, _>(i);
        match (read(0), read(1)) {
            (Ok(first), Ok(step)) if first > 0 && step > 0 => Ok((first, step)),
            _ => Err(not_numbered("a row of ids that does not read as two")),
        }
    };
    let ((first_scan, scan_step), (first_message, message_step)) = (ids(scans)?, ids(messages)?);
    let written = MessageState::of(Message::Queue, Some(claimed));
    queued
        .iter()
        .zip(0i64..)
        .map(|((place, scan), j)| {
            let row = &scan.row;
            Ok(delivery::Model {
                id: first_message + j * message_step,
                kind: super::Kind::Message.as_str().to_owned(),
                scan_id: Some(first_scan + *place as i64 * scan_step),
                openid: row.openid.to_owned(),
                order_id: row.order_id,
                payload: None,
                status: written.status.as_str().to_owned(),
                attempts: written.attempts,
                next_attempt_at_ms: row.received_at_ms,
                lease_until_ms: written.lease_until_ms,
                deadline_at_ms: row.received_at_ms + WINDOW_MS,
                errcode: None,
                errmsg: None,
                sent_at_ms: None,
                created_at_ms: row.received_at_ms,
                updated_at_ms: row.received_at_ms,
                claim_token: written.claim_token.map(str::to_owned),
            })
        })
        .collect()
}

fn not_numbered(why: &str) -> DbErr {
    DbErr::Custom(format!("numbering a batch's messages: {why}"))
}
