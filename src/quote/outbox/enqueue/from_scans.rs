//! A batch's deliveries made by the database from the scan rows just written, so no
//! scan id travels back and forth: `INSERT INTO deliveries (…) SELECT … FROM scans`.
//! The scans are found among those after the last one the transaction read before
//! writing (`after`): on SQLite the identity has no index (`journal::identities`) and
//! the id is the table's key; on MySQL, where the identity's key finds them, `after`
//! is 0.

use entity::{delivery, scan};
use sea_orm::sea_query::{Expr, ExprTrait, InsertStatement, Query};
use sea_orm::{ColumnTrait, DbErr};

use super::super::retry::WINDOW_MS;
use super::super::status::Status;
use super::{ClaimedFor, Message, Queued};
use crate::db::Execute;
use crate::db::shaped::{Param, Shape, Site};

static MESSAGES_FOR: Site = Site("messages_for");

/// How a scan's message is written: recorded sent (a passive reply carried the card),
/// claimed for this instance's worker (`sending`, first attempt, leased), or pending.
pub(super) struct MessageState<'a> {
    /// Which of the three, as the shape of the statement that writes it.
    variant: usize,
    pub status: Status,
    pub attempts: i32,
    /// Sent at the scan's time (a passive reply), else not yet.
    sent_with_scan: bool,
    pub claim_token: Option<&'a str>,
    pub lease_until_ms: i64,
}

impl<'a> MessageState<'a> {
    pub(super) fn of(message: Message, claimed: Option<&ClaimedFor<'a>>) -> MessageState<'a> {
        let (variant, status, attempts, sent_with_scan, claim_token, lease_until_ms) =
            match (message, claimed) {
                (Message::PassiveSent, _) => (0, Status::Sent, 1, true, Some("passive-reply"), 0),
                (_, Some(c)) => (
                    1,
                    Status::Sending,
                    1,
                    false,
                    Some(c.token),
                    c.lease_until_ms,
                ),
                _ => (2, Status::Pending, 0, false, None, 0),
            };
        MessageState {
            variant,
            status,
            attempts,
            sent_with_scan,
            claim_token,
            lease_until_ms,
        }
    }
}

/// Queues [`messages_for`] as a statement of a few shapes ([`Execute::queue_shaped`]):
/// one for each way a message is written, times the list's lengths.
pub(super) async fn queue_messages_for(
    txn: &impl Execute,
    identities: &[&str],
    after: i64,
    written: &MessageState<'_>,
) -> Result<(), DbErr> {
    // The values in the order `messages_for` writes them.
    let mut params = Vec::with_capacity(identities.len() + 6);
    params.extend([
        Param::from(written.status.as_str()),
        i64::from(written.attempts).into(),
    ]);
    if !written.sent_with_scan {
        params.push(Param::Int(None));
    }
    params.extend::<[Param<'_>; 3]>([
        written.claim_token.into(),
        written.lease_until_ms.into(),
        WINDOW_MS.into(),
    ]);
    params.extend(identities.iter().map(|&i| Param::from(i)));
    params.push(after.into());
    let shape = Shape::new(&MESSAGES_FOR, written.variant << 32 | identities.len());
    txn.queue_shaped(shape, &params, || messages_for(identities, after, written))
        .await
}

/// `INSERT INTO deliveries (…) SELECT … FROM scans WHERE event_identity = …`: one of
/// a channel code scan's deliveries (few, so one statement each).
pub(super) fn queued_for(identity: &str, after: i64, queued: &Queued) -> InsertStatement {
    use delivery::Column as D;
    use scan::Column as S;
    let received = || Expr::col(S::ReceivedAtMs);
    let (status, attempts, sent_at, claim) = if queued.passive {
        (
            Status::Sent,
            1,
            Expr::col(S::ReceivedAtMs),
            Expr::val("passive-reply"),
        )
    } else {
        (
            Status::Pending,
            0,
            Expr::val(Option::<i64>::None),
            Expr::val(Option::<String>::None),
        )
    };
    let rows = Query::select()
        .column(S::Id)
        .column(S::Openid)
        .expr(Expr::val(queued.kind.as_str()))
        .expr(Expr::val(queued.payload.as_str()))
        .expr(Expr::val(status.as_str()))
        .expr(Expr::val(attempts))
        .expr(sent_at)
        .expr(claim)
        .expr(received())
        .expr(Expr::val(0i64))
        .expr(received().add(queued.window_ms))
        .expr(received())
        .expr(received())
        .from(scan::Entity)
        .and_where(S::EventIdentity.eq(identity))
        .and_where(S::Id.gt(after))
        .to_owned();
    Query::insert()
        .into_table(delivery::Entity)
        .columns([
            D::ScanId,
            D::Openid,
            D::Kind,
            D::Payload,
            D::Status,
            D::Attempts,
            D::SentAtMs,
            D::ClaimToken,
            D::NextAttemptAtMs,
            D::LeaseUntilMs,
            D::DeadlineAtMs,
            D::CreatedAtMs,
            D::UpdatedAtMs,
        ])
        .select_from(rows)
        .expect("as many values as columns")
        .to_owned()
}

/// The columns an order's message is written with, here and in `numbered`.
pub(super) const MESSAGE_COLUMNS: [delivery::Column; 12] = {
    use delivery::Column as D;
    [
        D::ScanId,
        D::Openid,
        D::OrderId,
        D::Status,
        D::Attempts,
        D::SentAtMs,
        D::ClaimToken,
        D::NextAttemptAtMs,
        D::LeaseUntilMs,
        D::DeadlineAtMs,
        D::CreatedAtMs,
        D::UpdatedAtMs,
    ]
};

/// `INSERT INTO deliveries (…) SELECT … FROM scans WHERE event_identity IN (…)`, the
/// list as given (padded, or not, by the caller): the queued message of each scan, due
/// at once and failed unless sent within WeChat's window. A passive reply already
/// carried the card, so those are recorded sent; handed-off messages are written
/// claimed ([`MessageState`]).
pub(super) fn messages_for(
    identities: &[&str],
    after: i64,
    written: &MessageState<'_>,
) -> InsertStatement {
    use scan::Column as S;
    let received = || Expr::col(S::ReceivedAtMs);
    let sent_at = if written.sent_with_scan {
        received()
    } else {
        Expr::val(Option::<i64>::None)
    };
    let rows = Query::select()
        .column(S::Id)
        .column(S::Openid)
        .column(S::OrderId)
        .expr(Expr::val(written.status.as_str()))
        .expr(Expr::val(written.attempts))
        .expr(sent_at)
        .expr(Expr::val(written.claim_token))
        .expr(received())
        .expr(Expr::val(written.lease_until_ms))
        .expr(received().add(WINDOW_MS))
        .expr(received())
        .expr(received())
        .from(scan::Entity)
        .and_where(S::EventIdentity.is_in(identities.iter().copied()))
        .and_where(S::Id.gt(after))
        .to_owned();
    Query::insert()
        .into_table(delivery::Entity)
        .columns(MESSAGE_COLUMNS)
        .select_from(rows)
        .expect("as many values as columns")
        .to_owned()
}
