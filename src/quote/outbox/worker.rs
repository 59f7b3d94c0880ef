//! The outbox worker: sends each queued message once, within WeChat's window.
//!
//! One worker per process keeps up to [`IN_FLIGHT`] sends going. Its loop is around one
//! step, [`Worker::deliver_next`]: take the messages the journal handed over, or claim
//! due ones for the free send slots, and start a send for each; the loop then goes on
//! at once, or waits for a free slot, a wake-up, a hand-off or the next poll. A slow
//! API round trip is hidden by concurrency, and no send waits for a slower one. Each
//! outcome goes to the journal, which commits outcomes as they come, many per
//! transaction: a message is marked sent within milliseconds of WeChat's answer.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use entity::delivery;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::Kind;
use super::claims::{self, NewClaim};
use super::handoff::{HandOff, IN_FLIGHT};
use super::retry::{Guarantee, backoff};
use super::send::{interrupted, send};
use crate::metrics::Metrics;
use crate::quote::Domain;
use crate::quote::orders::Order;
use crate::{AppError, now_ms};

/// Most messages one claim takes…
const CLAIM_BATCH: usize = 256;
/// …and fewest it waits to have room for while others are in flight, so a busy worker
/// claims in batches rather than one message per statement.
const CLAIM_MIN: usize = 32;
/// Without a wake-up, look for due retries and orphaned claims this often.
const POLL: Duration = Duration::from_millis(250);

/// What one step did, and so what the loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// This many sends were started: step again at once.
    Started(usize),
    /// Messages were due, but another instance claimed them first: step again.
    Contended,
    /// Every send slot is taken: wait for one to come free.
    Full,
    /// Nothing is due now: wait for a wake-up, a hand-off or the next poll.
    Idle,
}

/// The worker's state: its share of the send slots, its end of the hand-off channel,
/// and the sends under way.
pub struct Worker {
    domain: Domain,
    /// Shared with the journal, which reserves some for the messages it hands over.
    slots: std::sync::Arc<Semaphore>,
    /// `None` when another worker of this process took it (there is one per process).
    handoffs: Option<mpsc::UnboundedReceiver<HandOff>>,
    sends: JoinSet<()>,
    /// Whether due messages may be waiting now: after a wake-up for messages written
    /// pending, and after a look that found some (more may wait).
    look: bool,
    /// When to look anyway, for retries come due and orphaned claims.
    next_look: Instant,
}

impl Worker {
    pub fn new(domain: Domain) -> Self {
        let handoff = &domain.outbox.handoff;
        Worker {
            slots: handoff.slots().clone(),
            handoffs: handoff.take_receiver(),
            sends: JoinSet::new(),
            look: true,
            next_look: Instant::now(),
            domain,
        }
    }

    /// One step: start the sends of what was handed over, or else claim due messages
    /// for the free slots and start theirs.
    pub async fn deliver_next(&mut self) -> Result<Step, AppError> {
        // Reap finished sends so the set does not grow with every message.
        while self.sends.try_join_next().is_some() {}
        let mut started = 0;
        while let Some(h) = self.handoffs.as_mut().and_then(|rx| rx.try_recv().ok()) {
            started += self.take_over(h).await;
        }
        if started > 0 {
            return Ok(Step::Started(started));
        }
        // Not after every hand-off: under load that was a read of the outbox per batch,
        // each on a page cache the batch's commit had just emptied, for nothing.
        if !self.look && Instant::now() < self.next_look {
            return Ok(Step::Idle);
        }
        let free = self.slots.available_permits();
        if free < CLAIM_MIN.min(IN_FLIGHT) && !self.sends.is_empty() {
            return Ok(Step::Full);
        }
        // The slots for this claim, taken first: the journal may take some meanwhile.
        let want = free.min(CLAIM_BATCH);
        let mut reserved = match self.slots.clone().try_acquire_many_owned(want as u32) {
            Ok(reserved) if want > 0 => reserved,
            // The journal holds every slot for messages it is handing over.
            _ => {
                self.next_look = Instant::now() + POLL;
                return Ok(Step::Idle);
            }
        };
        let now = now_ms();
        let due = claims::candidates(&self.domain.db, want, now).await?;
        self.look = !due.ids.is_empty();
        if due.ids.is_empty() {
            self.next_look = Instant::now() + POLL;
            return Ok(Step::Idle);
        }
        let orphans: HashSet<i64> = due.ids[..due.orphans].iter().copied().collect();
        let ids = due.ids;
        let token = claims::new_token(&self.domain.instance_id);
        // Through the journal, so the claim shares a commit with the scans and outcomes
        // written meanwhile instead of taking the writer, and an fsync, for itself.
        self.domain
            .outbox
            .journal
            .claim(NewClaim {
                ids,
                token: token.clone(),
                now,
            })
            .await?;
        // The token is new, so the rows that carry it are exactly those won.
        let won = claims::claimed_by(&self.domain.db, &token).await?;
        if won.is_empty() {
            return Ok(Step::Contended);
        }
        let n = won.len();
        for d in won {
            let slot = reserved
                .split(1)
                .expect("a claim never exceeds the slots reserved for it");
            // At most once, a message whose last send may have gone out is not sent
            // again: it is recorded as unknown, for the owner to decide.
            let may_have_gone = orphans.contains(&d.id)
                && self.domain.guarantee == Guarantee::AtMostOnce
                && Kind::parse(&d.kind).is_some_and(Kind::is_message);
            if may_have_gone {
                self.start(d, slot, Attempt::Settle);
            } else {
                self.start(d, slot, Attempt::Send(None));
            }
        }
        Ok(Step::Started(n))
    }

    /// Starts the sends of messages the journal committed claimed for this worker.
    async fn take_over(&mut self, mut handoff: HandOff) -> usize {
        let read = match handoff.rows.take() {
            Some(rows) => Ok(rows),
            None => claims::claimed_by(&self.domain.db, &handoff.token).await,
        };
        let claimed = match read {
            Ok(claimed) => claimed,
            Err(e) => {
                // Still claimed and leased: taken over, here or elsewhere, once it runs out.
                tracing::error!(error = %e, "reading handed-over messages failed");
                return 0;
            }
        };
        let mut started = 0;
        for d in claimed {
            match handoff.slots.split(1) {
                Some(slot) => {
                    Metrics::bump(&self.domain.metrics.messages_handed_over);
                    let order = handoff.order_of(&d);
                    self.start(d, slot, Attempt::Send(order));
                    started += 1;
                }
                None => tracing::error!(delivery = d.id, "more handed-over messages than slots"),
            }
        }
        started
    }

    fn start(&mut self, d: delivery::Model, slot: OwnedSemaphorePermit, attempt: Attempt) {
        let domain = self.domain.clone();
        self.sends.spawn(Box::pin(async move {
            let outcome = match attempt {
                Attempt::Send(order) => send(&domain, d, order).await,
                Attempt::Settle => interrupted(&domain, d).await,
            };
            // The slot bounds sends under way, so it is free once WeChat has answered;
            // the outcome then waits for the journal's commit without holding it.
            drop(slot);
            domain.outbox.journal.outcome(outcome).await;
        }));
    }

    /// Waits until every send started so far has finished and its outcome is committed.
    pub async fn wait_for_sends(&mut self) {
        while self.sends.join_next().await.is_some() {}
    }

    /// Stopping: no new claims. Messages already handed over are sent (the server has
    /// answered its last push by now, so no more come), and the sends under way finish
    /// and are recorded.
    async fn finish(mut self) {
        while let Some(h) = self.handoffs.as_mut().and_then(|rx| rx.try_recv().ok()) {
            self.take_over(h).await;
        }
        self.wait_for_sends().await;
    }
}

/// Starts the worker. It ends once `stop` is set and the sends under way have finished
/// and their outcomes are committed.
pub fn spawn(domain: Domain, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(run(Worker::new(domain), stop))
}

/// What is done with a claimed message.
enum Attempt {
    /// With its order when the scan handed it over (else the send looks it up).
    Send(Option<Arc<Order>>),
    /// Record that its last send's outcome is unknown (at most once).
    Settle,
}

/// What the worker waited for.
enum Woken {
    HandOff(HandOff),
    /// Messages were written pending.
    Pending,
    Other,
}

async fn run(mut worker: Worker, mut stop: watch::Receiver<bool>) {
    let mut failures = 0u32;
    let beat = worker.domain.outbox.worker_beat.clone();
    while !*stop.borrow() {
        beat.store(now_ms(), std::sync::atomic::Ordering::Relaxed);
        let pause = match worker.deliver_next().await {
            Ok(Step::Started(_)) => {
                failures = 0;
                continue;
            }
            Ok(Step::Contended) => {
                failures = 0;
                tokio::task::yield_now().await;
                continue;
            }
            Ok(Step::Full) => None,
            Ok(Step::Idle) => Some(worker.next_look),
            Err(e) => {
                failures += 1;
                tracing::error!(error = %e, "claiming messages failed");
                Some(Instant::now() + backoff(failures))
            }
        };
        let handoff = &worker.domain.outbox.handoff;
        let until = pause.unwrap_or_else(Instant::now);
        let woken = tokio::select! {
            _ = worker.slots.acquire_many(CLAIM_MIN as u32), if pause.is_none() => Woken::Other,
            _ = handoff.woken(), if pause.is_some() => Woken::Pending,
            _ = tokio::time::sleep_until(until), if pause.is_some() => Woken::Other,
            Some(h) = next_handoff(&mut worker.handoffs) => Woken::HandOff(h),
            _ = stop.changed() => Woken::Other,
        };
        match woken {
            Woken::HandOff(h) => {
                worker.take_over(h).await;
            }
            Woken::Pending => worker.look = true,
            Woken::Other => {}
        }
    }
    worker.finish().await;
    beat.store(0, std::sync::atomic::Ordering::Relaxed);
}

/// The next hand-off, or never when this worker has no receiver.
async fn next_handoff(handoffs: &mut Option<mpsc::UnboundedReceiver<HandOff>>) -> Option<HandOff> {
    match handoffs {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
