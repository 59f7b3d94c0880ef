//! The outbox: every message a scan queues, from the scan's transaction to WeChat's
//! answer, durable at each step; and, through the same machinery, the events the
//! shop's webhook is told of ([`kind`]).
//!
//! The pipeline, in the order a message meets it:
//! 1. [`enqueue`]: the callback's scan and its message are written in one transaction
//!    by the [`journal`], which group-commits what the hot paths hand it (scans,
//!    claims, outcomes) so that one fsync covers many; nothing is acknowledged before
//!    it is committed.
//! 2. [`handoff`]: when this instance's worker has a free send slot, the journal writes
//!    the message already claimed for it and hands it over once committed; otherwise
//!    it is written `pending` and the worker is woken.
//! 3. [`worker`]: a loop around one step ([`worker::Worker::deliver_next`]) that takes
//!    handed-over messages and [`claims`] due ones (retries, orphans of a dead
//!    instance), and starts a [`send`] for each, up to [`handoff::IN_FLIGHT`] at once.
//! 4. [`retry`]: the policy that decides, from the send's outcome, whether the message
//!    is sent, tried again later (inside WeChat's minute) or failed with a reason;
//!    [`outcomes`] writes that decision, through the journal again.
//! 5. [`views`]: what the console and `/metrics` read of it, and the retry by hand.
//!
//! Every status and the steps that set it are drawn in [`status`].

pub mod claims;
pub mod enqueue;
pub mod handoff;
pub mod journal;
pub mod kind;
pub mod outcomes;
pub mod retry;
pub mod send;
pub mod status;
pub mod views;
pub mod worker;

use std::sync::Arc;

pub use kind::Kind;
pub use status::Status;

/// The outbox's live parts: the journal every write goes through, the way to this
/// instance's worker, and when the worker last went round its loop.
#[derive(Clone)]
pub struct Outbox {
    pub journal: journal::Journal,
    pub handoff: Arc<handoff::Channel>,
    /// Unix ms of the worker's latest turn (0 before its first): `/readyz` reads it.
    pub worker_beat: Arc<std::sync::atomic::AtomicI64>,
}

impl Outbox {
    /// The longest a live worker goes without a turn: a poll is 250 ms, and a worker
    /// whose every slot is busy waits at most for a send's 10 s timeout.
    pub const WORKER_SILENCE_MS: i64 = 30_000;

    /// Whether this instance's worker is going round (it has not stopped or hung).
    pub fn worker_running(&self, now_ms: i64) -> bool {
        turning(
            self.worker_beat.load(std::sync::atomic::Ordering::Relaxed),
            now_ms,
        )
    }
}

/// A worker whose latest turn was at `beat` is still turning at `now_ms`.
fn turning(beat: i64, now_ms: i64) -> bool {
    beat > 0 && now_ms - beat < Outbox::WORKER_SILENCE_MS
}

#[cfg(test)]
mod tests {
    use super::{Outbox, turning};

    #[test]
    fn a_worker_is_running_only_while_it_keeps_turning() {
        assert!(!turning(0, 1_000), "not before its first turn");
        assert!(turning(1_000, 1_000 + Outbox::WORKER_SILENCE_MS - 1));
        assert!(
            !turning(1_000, 1_000 + Outbox::WORKER_SILENCE_MS),
            "silent too long"
        );
    }
}
