//! The rows a scan push becomes: the scan, the message it queues when it points at an
//! order, and the shop's webhook event, in one transaction. Written by the
//! [`journal`](super::journal) in group-committed batches.
//!
//! A retried push is caught by its event identity, within the batch and against what is
//! stored: on MySQL the unique index on it is the last word between instances; on
//! SQLite the journal judges it from what it read of the table inside its transaction
//! (`journal::identities`). A replay (a captured plaintext push's query, valid for the
//! timestamp window, sent again with another body) is caught by the query's signature,
//! kept with a hash of the body it came with: the same signature with the same body is
//! WeChat's retry, with another body a forgery. On MySQL the signature is the table's
//! key, the last word between instances as the identity is; on SQLite the journal
//! judges them from what it read of the table inside its transaction
//! (`journal::recent`). (An encrypted push's body is signed; it comes without a
//! signature to keep.)

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use entity::{delivery, push_signature, scan};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Set,
};

use super::kind::Kind;
use super::retry::WEBHOOK_WINDOW_MS;
use super::status::Status;
use crate::db::shaped::Rows;
use crate::db::{self, Execute};
use crate::quote::orders::Order;
use from_scans::{MessageState, queue_messages_for, queued_for};
pub use numbered::claimed_messages;

mod from_scans;
mod latest;
mod numbered;
mod rows;

pub use rows::ScanRow;
use rows::{SCANS, SIGNATURES};

/// One scan to record.
pub struct NewScan {
    /// The push's identity: a second scan with it is a retry of the first.
    pub identity: String,
    /// The rest of the scan's row.
    pub row: ScanRow,
    pub message: Message,
    /// The shop's webhook event for it, when a webhook is set.
    pub event: Option<NewEvent>,
    /// The push's query signature and body, as they came.
    pub seen: Option<Seen>,
    /// What else the scan queues: a channel code's reply and tag.
    pub extra: Vec<Queued>,
    /// The order of a queued message, as the scan found it: handed to the worker with
    /// the message, so that its send does not look the order up again.
    pub order: Option<Arc<Order>>,
}

/// A delivery a scan queues besides an order's message, written from the scan's row.
#[derive(Debug, Clone)]
pub struct Queued {
    pub kind: Kind,
    pub payload: String,
    /// Already carried by the push's passive reply: recorded sent.
    pub passive: bool,
    /// Tried for this long after the scan.
    pub window_ms: i64,
}

/// What identifies the push as sent: its query's signature and its body's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub signature: String,
    pub body_sha256: String,
}

/// A webhook event to queue.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The shopper it is about.
    pub openid: String,
    pub order_id: Option<i64>,
    /// The event's JSON body, as it will be POSTed.
    pub payload: String,
}

/// Queues webhook events: pending, due at once, tried for a day.
pub async fn insert_events(
    txn: &impl Execute,
    events: &[&NewEvent],
    now: i64,
) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    let rows = delivery::Entity::insert_many(events.iter().map(|e| delivery::ActiveModel {
        kind: Set(Kind::Webhook.as_str().into()),
        scan_id: Set(None),
        openid: Set(e.openid.clone()),
        order_id: Set(e.order_id),
        payload: Set(Some(e.payload.clone())),
        status: Set(Status::Pending.as_str().into()),
        attempts: Set(0),
        next_attempt_at_ms: Set(now),
        lease_until_ms: Set(0),
        deadline_at_ms: Set(now + WEBHOOK_WINDOW_MS),
        created_at_ms: Set(now),
        updated_at_ms: Set(now),
        ..Default::default()
    }));
    txn.queue(&rows.into_query()).await
}

/// What a scan queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// It points at no order.
    None,
    /// A message to send.
    Queue,
    /// The card went back as a passive reply: recorded sent, nothing to send.
    PassiveSent,
}

impl NewScan {
    fn identity(&self) -> &str {
        &self.identity
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Recorded,
    /// WeChat's retry of a push recorded before: nothing written again.
    Duplicate,
    /// A push's query seen before with another body: refused, nothing written.
    Replayed,
}

/// What the database holds already of a batch's scans.
#[derive(Debug, Default)]
pub struct Stored {
    identities: HashSet<String>,
    /// Signature → the body hash it came with.
    signatures: HashMap<String, String>,
}

/// Which scans of the batch to record: not replays of a query seen with another body
/// (stored, or earlier in the batch), not those `stored` already, and of several with
/// one identity only the first.
pub fn sort_out(scans: &[NewScan], stored: &Stored) -> Vec<Written> {
    let mut taken = HashSet::with_capacity(scans.len());
    let mut signed: HashMap<&str, &str> = HashMap::new();
    scans
        .iter()
        .map(|s| {
            if let Some(seen) = &s.seen {
                let before = stored
                    .signatures
                    .get(&seen.signature)
                    .map(String::as_str)
                    .or_else(|| signed.get(seen.signature.as_str()).copied());
                match before {
                    Some(hash) if hash != seen.body_sha256 => return Written::Replayed,
                    Some(_) => {}
                    None => {
                        signed.insert(&seen.signature, &seen.body_sha256);
                    }
                }
            }
            if stored.identities.contains(s.identity()) || !taken.insert(s.identity()) {
                Written::Duplicate
            } else {
                Written::Recorded
            }
        })
        .collect()
}

impl Stored {
    /// `identities` in place of those known so far.
    pub fn holding(&mut self, identities: HashSet<String>) {
        self.identities = identities;
    }

    /// `signatures` (signature → body hash) in place of those known so far.
    pub fn knowing(&mut self, signatures: HashMap<String, String>) {
        self.signatures = signatures;
    }
}

/// The identities and signatures of the batch that the database holds already, on
/// MySQL. (On SQLite the journal knows them from memory, and neither table has an index
/// to find one by; see `journal::identities` and `journal::recent`.)
pub async fn already_stored(conn: &DatabaseConnection, scans: &[NewScan]) -> Result<Stored, DbErr> {
    let mut stored = Stored::default();
    if conn.get_database_backend() == sea_orm::DbBackend::Sqlite {
        return Ok(stored);
    }
    let identities: Vec<&str> = scans.iter().map(NewScan::identity).collect();
    for some in db::chunks(&identities) {
        let found: Vec<String> = scan::Entity::find()
            .select_only()
            .column(scan::Column::EventIdentity)
            .filter(scan::Column::EventIdentity.is_in(some.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        stored.identities.extend(found);
    }
    let signatures: Vec<&str> = scans
        .iter()
        .filter_map(|s| s.seen.as_ref().map(|seen| seen.signature.as_str()))
        .collect();
    for some in db::chunks(&signatures) {
        let found = push_signature::Entity::find()
            .filter(push_signature::Column::Signature.is_in(some.iter().copied()))
            .all(conn)
            .await?;
        stored
            .signatures
            .extend(found.into_iter().map(|p| (p.signature, p.body_sha256)));
    }
    Ok(stored)
}

/// The scans of the batch `results` records that queue a message, each with its place
/// among the recorded scans (the row of their multi-row insert).
pub fn queued_messages<'a>(scans: &'a [NewScan], results: &[Written]) -> Vec<(usize, &'a NewScan)> {
    scans
        .iter()
        .zip(results)
        .filter(|(_, r)| **r == Written::Recorded)
        .map(|(s, _)| s)
        .enumerate()
        .filter(|(_, s)| s.message == Message::Queue)
        .collect()
}

/// Messages written already claimed for this instance's worker (see `handoff`).
pub struct ClaimedFor<'a> {
    pub token: &'a str,
    pub lease_until_ms: i64,
}

/// The scans sorted out as [`Written::Recorded`], in multi-row inserts, then their
/// messages, so that no scan id travels back and forth: made by the database from the
/// scan rows just written (`from_scans`), or, where the session numbers rows, written
/// with the ids the scans' insert generated (`numbered`); on SQLite, each order's
/// latest message after them (`latest`). A few statements however
/// many scans, because each is a round trip that pushes wait for (and, on MySQL, a
/// parse of its own). A batch fits one statement on both databases (SQLite takes
/// 32,766 parameters, MySQL 65,535). The scans and their signatures go in the runs
/// [`Execute::runs`] makes: where statements are kept prepared by their text, runs of
/// a few lengths, each prepared once, rather than one statement of the batch's length,
/// prepared anew whenever that length has not been met lately; on the MySQL journal's
/// connection, which sends statements as text, as few as fit. (There the scans go in
/// one statement whatever its length: the messages are numbered from its ids.)
pub async fn insert(
    txn: &impl Execute,
    scans: &[NewScan],
    results: &[Written],
    after: i64,
    claimed: Option<&ClaimedFor<'_>>,
) -> Result<(), DbErr> {
    let fresh: Vec<&NewScan> = scans
        .iter()
        .zip(results)
        .filter(|(_, r)| **r == Written::Recorded)
        .map(|(s, _)| s)
        .collect();
    if fresh.is_empty() {
        return Ok(());
    }
    // Where the session numbers rows, the messages take the ids one insert generated;
    // the places are those `journal::write` numbers the claimed messages by.
    let numbered = txn.numbers_in_session();
    let scan_runs = if numbered {
        vec![&fresh[..]]
    } else {
        txn.runs(&fresh)
    };
    for run in scan_runs {
        let mut rows = Rows::with_capacity(&SCANS, run.len());
        for s in run {
            rows.push(s.values());
        }
        txn.insert(&rows).await?;
    }
    if numbered {
        let queued = queued_messages(scans, results);
        if !queued.is_empty() {
            txn.queue(&numbered::ids_select()).await?;
            txn.queue(&numbered::messages(&queued, claimed)).await?;
            txn.queue(&numbered::ids_select()).await?;
        }
    }
    let signed: Vec<&NewScan> = fresh.iter().copied().filter(|s| s.seen.is_some()).collect();
    for run in txn.runs(&signed) {
        let mut rows = Rows::with_capacity(&SIGNATURES, run.len());
        for values in run.iter().filter_map(|s| s.signature_values()) {
            rows.push(values);
        }
        txn.insert(&rows).await?;
    }
    let from_scans = if numbered {
        &[Message::PassiveSent][..]
    } else {
        &[Message::Queue, Message::PassiveSent]
    };
    let mut messages = 0;
    for &message in from_scans {
        let queued: Vec<&str> = fresh
            .iter()
            .filter(|s| s.message == message)
            .map(|s| s.identity())
            .collect();
        if !queued.is_empty() {
            let listed = txn.in_list(&queued);
            queue_messages_for(txn, &listed, after, &MessageState::of(message, claimed)).await?;
            messages += queued.len();
        }
    }
    // On SQLite, where no index finds an order's messages, each order's latest, before
    // any other delivery is inserted. (Only MySQL's journal numbers rows in its session;
    // MySQL keeps its index by order.)
    if !numbered {
        latest::queue_latest(txn, messages).await?;
    }
    for scan in &fresh {
        for queued in &scan.extra {
            txn.queue(&queued_for(scan.identity(), after, queued))
                .await?;
        }
    }
    let events: Vec<&NewEvent> = fresh.iter().filter_map(|s| s.event.as_ref()).collect();
    insert_events(txn, &events, crate::now_ms()).await
}
