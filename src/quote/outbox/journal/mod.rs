//! The journal: one writer of what the hot paths produce, scans from the callback,
//! claims and send outcomes from the outbox worker, in group-committed transactions.
//! On a SQLite file it is a thread with the database connection of its own
//! ([`crate::db::dedicated`]); on MySQL a thread with connections of its own
//! ([`crate::db::mysql_writer`]).
//!
//! Writing each push in a transaction of its own costs one fsync per push, which caps a
//! SQLite database at a few hundred pushes a second. Instead, callers hand their rows to
//! this task, which takes everything waiting (up to `MAX_BATCH` entries), writes it
//! in one transaction, commits once, and only then answers each caller: nothing is
//! acknowledged before it is durable, and under load one fsync covers many pushes and
//! sends. When traffic is light a batch is one entry: no scan or claim waits for
//! company (send outcomes alone wait a moment for one: `gather`).
//! Scans, claims and outcomes share the transaction because on SQLite they would
//! otherwise take turns on the one write lock, each paying a commit of its own.
//! MySQL locks rows, not the database, and there send outcomes go in a lane of their
//! own: a second connection, driven by the same thread, writes them in transactions
//! of their own. The transactions pushes wait for then carry no outcome updates (15%
//! of the server's time for the journal's statements), and the two lanes' round trips
//! overlap, on cores that stood idle while a batch of scans was at the server.
//! Measured with the bench on MariaDB (one binary and a switch, interleaved pairs):
//! share of the floor, medians, 0.358 against 0.330 plaintext (nine pairs) and 0.354
//! against 0.330 AES (three); the machine idle 0.21 of the time against 0.29, and the
//! database's CPU per push no higher. The price is a commit per lane.
//! A batch's messages are written claimed and handed straight to this instance's
//! worker when it has room for them ([`handoff`]), or else written pending and the
//! worker woken to claim them.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{mpsc, oneshot};

mod gather;
pub mod identities;
pub mod memory;
pub mod recent;
mod write;

use super::claims::{LEASE_MS, NewClaim, new_token};
use super::enqueue::{ClaimedFor, Message, NewScan, Written};
use super::handoff::{self, HandOff};
use super::outcomes::{self as outcome_rows, Outcome};
use super::retry::{self, Change, Guarantee};
use crate::db::Writer;
use crate::metrics::Metrics;
use crate::{AppError, now_ms};
pub use gather::OUTCOME_LINGER;
use gather::{keep_for_company, take_waiting};
use write::{Batch, write};

/// Entries per transaction at most.
const MAX_BATCH: usize = 512;

/// Why the journal could not write what it was given. Nothing of it was committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    #[error("the journal has stopped")]
    Stopped,
    #[error("writing the batch panicked")]
    Panicked,
    #[error("writing the batch failed: {0}")]
    Db(#[from] DbErr),
}

impl From<JournalError> for AppError {
    fn from(e: JournalError) -> Self {
        match e {
            JournalError::Db(e) => AppError::Db(e),
            other => AppError::Internal(other.into()),
        }
    }
}

type Answer<T> = oneshot::Sender<Result<T, JournalError>>;

enum Entry {
    Scan(NewScan, Answer<Written>),
    Outcome(Outcome, oneshot::Sender<()>),
    Claim(NewClaim, Answer<()>),
    /// Answered once every entry queued before it is written (or has failed).
    Flush(oneshot::Sender<()>),
}

impl Entry {
    fn is_outcome(&self) -> bool {
        matches!(self, Entry::Outcome(..))
    }
}

#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Entry>,
    /// The outcomes' own lane, on MySQL.
    outcomes: Option<mpsc::Sender<Entry>>,
}

impl Journal {
    /// Starts the journal. It writes through `writer` ([`crate::db::connect_writer`])
    /// and reads, when a batch meets rows stored before, through `reader`. Messages of
    /// scans go straight to this instance's worker through `handoff` when it has room,
    /// claimed under tokens of `instance_id`.
    ///
    /// On a SQLite file the journal runs on a thread of its own, where its connection's
    /// statements run too ([`crate::db::dedicated`]): a batch then costs no thread
    /// hand-off but the one that brings it in. On MySQL it runs on a thread of its own
    /// as well, with a runtime driving its two lanes' connections
    /// ([`crate::db::mysql_writer`]), so that between its round trips it waits for no
    /// request handler. (An in-memory SQLite database, for tests, is a task on the
    /// shared pool.)
    pub fn spawn(
        writer: Writer,
        reader: DatabaseConnection,
        metrics: Arc<Metrics>,
        handoff: Arc<handoff::Channel>,
        instance_id: String,
        guarantee: Guarantee,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(2 * MAX_BATCH);
        let own_thread = !matches!(writer, Writer::Pool(_));
        // On MySQL, send outcomes are written in a lane of their own (the module's
        // comment says why): the same loop, on a connection of its own, fed only
        // outcomes and flushes.
        let lane = match &writer {
            Writer::MySql(own) => {
                let (otx, orx) = mpsc::channel(2 * MAX_BATCH);
                let lane = run(
                    Writer::MySql(Box::new(own.sibling())),
                    reader.clone(),
                    metrics.clone(),
                    handoff.clone(),
                    instance_id.clone(),
                    guarantee,
                    orx,
                );
                Some((otx, lane))
            }
            _ => None,
        };
        let network = matches!(writer, Writer::MySql(_));
        let journal = run(writer, reader, metrics, handoff, instance_id, guarantee, rx);
        let (outcomes, lane) = lane.unzip();
        let both = async move {
            match lane {
                Some(lane) => {
                    tokio::join!(journal, lane);
                }
                None => journal.await,
            }
        };
        if own_thread {
            let mut runtime = tokio::runtime::Builder::new_current_thread();
            if network {
                runtime.enable_io();
            }
            let runtime = runtime.enable_time().build()?;
            std::thread::Builder::new()
                .name("journal".into())
                .spawn(move || runtime.block_on(both))?;
        } else {
            tokio::spawn(both);
        }
        Ok(Journal { tx, outcomes })
    }

    /// Records the scan; returns once it is committed.
    pub async fn scan(&self, scan: NewScan) -> Result<Written, JournalError> {
        self.write_and_wait(|reply| Entry::Scan(scan, reply)).await
    }

    /// Writes a claim of the outbox worker; returns once it is committed.
    pub async fn claim(&self, claim: NewClaim) -> Result<(), JournalError> {
        self.write_and_wait(|reply| Entry::Claim(claim, reply))
            .await
    }

    /// Queues the entry `make` builds around its reply and waits for the commit.
    async fn write_and_wait<T>(
        &self,
        make: impl FnOnce(Answer<T>) -> Entry,
    ) -> Result<T, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| JournalError::Stopped)?;
        // A dropped answer means the journal's task ended with the entry in hand.
        answer.await.map_err(|_| JournalError::Stopped)?
    }

    /// Returns once everything queued before this call is committed (or has failed),
    /// in each lane, and its messages are handed over: a stopping instance calls it after its last
    /// request, because a push whose sender hung up is dropped by the server while its
    /// scan is still here, on its way to the worker.
    pub async fn flush(&self) {
        for lane in std::iter::once(&self.tx).chain(&self.outcomes) {
            let (reply, done) = oneshot::channel();
            if lane.send(Entry::Flush(reply)).await.is_ok() {
                let _ = done.await;
            }
        }
    }

    /// Records a send's outcome; returns once it is committed, or once writing it has
    /// failed for good (logged): the message then stays claimed and is taken over when
    /// the claim runs out, sent again if it was sent, which beats losing it.
    pub async fn outcome(&self, outcome: Outcome) {
        let (reply, done) = oneshot::channel();
        let lane = self.outcomes.as_ref().unwrap_or(&self.tx);
        if lane.send(Entry::Outcome(outcome, reply)).await.is_err() {
            tracing::error!("the journal stopped; the claim will be taken over");
            return;
        }
        let _ = done.await;
    }
}

async fn run(
    writer: Writer,
    reader: DatabaseConnection,
    metrics: Arc<Metrics>,
    handoff: Arc<handoff::Channel>,
    instance_id: String,
    guarantee: Guarantee,
    mut rx: mpsc::Receiver<Entry>,
) {
    if let Writer::MySql(own) = &writer
        && let Err(e) = own.connect().await
    {
        // Each batch tries again; until one connects, pushes are refused and retried.
        tracing::error!(error = %e, "the journal cannot connect to the database");
    }
    // What it knows of a SQLite file's scans and signatures (`memory`).
    let mut memory = memory::Memory::default();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        take_waiting(&mut rx, &mut batch);
        if batch.iter().all(Entry::is_outcome) {
            keep_for_company(&mut rx, &mut batch).await;
        }
        let (mut scans, mut scan_replies) = (Vec::new(), Vec::new());
        let (mut outcomes, mut outcome_replies) = (Vec::new(), Vec::new());
        let (mut claims, mut claim_replies) = (Vec::new(), Vec::new());
        let mut flushes = Vec::new();
        for entry in batch {
            match entry {
                Entry::Scan(s, reply) => {
                    scans.push(s);
                    scan_replies.push(reply);
                }
                Entry::Outcome(o, reply) => {
                    outcomes.push(o);
                    outcome_replies.push(reply);
                }
                Entry::Claim(c, reply) => {
                    claims.push(c);
                    claim_replies.push(reply);
                }
                // Entries come in order, so what came before is in this batch or in
                // one already written.
                Entry::Flush(reply) => flushes.push(reply),
            }
        }
        if scans.is_empty() && outcomes.is_empty() && claims.is_empty() {
            answer(flushes);
            continue;
        }
        let now = now_ms();
        let changes: Vec<Change> = outcomes
            .iter()
            .map(|o| retry::decide(&o.delivery, &o.result, guarantee, now))
            .collect();
        // The batch's messages go to the worker claimed when it has a slot for each.
        let queued = scans.iter().filter(|s| s.message == Message::Queue).count();
        let handed = match queued {
            0 => None,
            n => handoff.reserve(n).map(|slots| HandOff {
                token: new_token(&instance_id),
                slots,
                rows: None,
                orders: HashMap::new(),
            }),
        };
        // A panic while writing fails this batch's callers (and is logged) instead of
        // ending the journal and with it every later push. Caught here rather than by
        // running the write in a task of its own: a spawned task cost every batch a
        // wake-up on another thread, and at light load every push is a batch or two.
        let claimed = handed.as_ref().map(|h| ClaimedFor {
            token: &h.token,
            lease_until_ms: now + LEASE_MS,
        });
        let parts = Batch {
            scans: &scans,
            claimed: claimed.as_ref(),
            outcomes: &outcomes,
            changes: &changes,
            claims: &claims,
            now,
        };
        let attempt = std::panic::AssertUnwindSafe(write(&writer, &reader, &mut memory, &parts));
        let written = match futures_util::FutureExt::catch_unwind(attempt).await {
            Ok(written) => written,
            Err(_) => {
                tracing::error!("writing a batch panicked");
                refuse(scan_replies, claim_replies, JournalError::Panicked);
                continue;
            }
        };
        match written {
            Ok((results, read_back)) => {
                Metrics::bump(&metrics.journal_commits);
                metrics.journal_entries.fetch_add(
                    (scans.len() + outcomes.len() + claim_replies.len()) as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                memory.report(&metrics);
                // Handed over (or the worker woken for them) before any push is
                // answered, so that once the server has answered its last push the
                // worker knows of every message it must send.
                let queued_any = scans
                    .iter()
                    .zip(&results)
                    .any(|(s, r)| s.message == Message::Queue && *r == Written::Recorded);
                match handed {
                    Some(mut h) if queued_any => {
                        h.rows = read_back;
                        h.orders = scans
                            .iter_mut()
                            .zip(&results)
                            .filter(|(s, r)| {
                                s.message == Message::Queue && **r == Written::Recorded
                            })
                            .filter_map(|(s, _)| s.order.take())
                            .map(|order| (order.id, order))
                            .collect();
                        handoff.hand_over(h);
                    }
                    Some(_) => {}
                    None if queued_any => handoff.wake(),
                    None => {}
                }
                // Webhook events, replies and tags are written pending: the worker claims them.
                if scans
                    .iter()
                    .any(|s| s.event.is_some() || !s.extra.is_empty())
                    || outcomes.iter().any(|o| o.tell_shop.is_some())
                {
                    handoff.wake();
                }
                for (reply, result) in scan_replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
                for reply in claim_replies {
                    let _ = reply.send(Ok(()));
                }
                outcome_rows::report(&metrics, &outcomes, &changes);
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    scans = scans.len(),
                    outcomes = outcomes.len(),
                    "a batch could not be written"
                );
                refuse(scan_replies, claim_replies, JournalError::Db(e));
            }
        }
        answer(outcome_replies);
        answer(flushes);
    }
}

fn answer(replies: Vec<oneshot::Sender<()>>) {
    for reply in replies {
        let _ = reply.send(());
    }
}

/// Tells the callers of a batch that was not written why. (Outcomes need no answer
/// but their turn: their messages stay claimed and are taken over.)
fn refuse(scans: Vec<Answer<Written>>, claims: Vec<Answer<()>>, why: JournalError) {
    for reply in scans {
        let _ = reply.send(Err(why.clone()));
    }
    for reply in claims {
        let _ = reply.send(Err(why.clone()));
    }
}

#[cfg(test)]
mod tests;
