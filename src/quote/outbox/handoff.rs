//! The hand-off: a scan's message given to this instance's outbox worker already
//! claimed, by the transaction that records the scan.
//!
//! Otherwise every message is written `pending`, found by the worker's reads, claimed
//! by an update and read back: three statements and an index rewrite per row on the
//! path every message takes. When the worker has room, the journal reserves send slots
//! for its batch's messages and writes them `sending` under a claim token of this
//! instance, with the usual lease; once committed, the token goes to the worker, which
//! reads the rows back and sends them. Nothing else changes: another instance sees a
//! claimed message and leaves it alone, and if this process dies before sending, the
//! lease runs out and the message is taken over like any other claim.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use crate::quote::orders::Order;

/// Sends under way at once in one process, each on a connection of its own. At 50 ms
/// a round trip, the 10,000 scans a second one process records need 500 in flight, and
/// a batch takes slots for all its messages or none: with 512, half the messages of a
/// burst of 5,000 found the slots taken, went the slow way (written pending, claimed by
/// the worker) and reached WeChat 50 ms later (bench, 2026-12-06); with 1,024 every one
/// was handed over. The price is memory: each send holds a connection of about 30 KB
/// (hyper's buffers and dispatch channel, by heaptrack), and the bench's api+50 case
/// peaked at 59–65 MiB in fourteen runs, against 58–61 with 512.
pub const IN_FLIGHT: usize = 1024;

/// Messages committed under `token`, with a send slot each.
pub struct HandOff {
    pub token: String,
    pub slots: OwnedSemaphorePermit,
    /// The rows, when the journal read them back in the claiming transaction (on a
    /// SQLite file, or with the COMMIT on MySQL: no round trip of its own); else the
    /// worker reads them.
    pub rows: Option<Vec<entity::delivery::Model>>,
    /// The messages' orders by id, as their scans found them (an order never changes).
    pub orders: HashMap<i64, Arc<Order>>,
}

impl HandOff {
    /// The order of a message handed over, when its scan gave it; the send looks up
    /// the others itself.
    pub fn order_of(&self, message: &entity::delivery::Model) -> Option<Arc<Order>> {
        self.orders.get(&message.order_id?).cloned()
    }
}

/// The worker's send slots and the way to it, shared by the journal and the worker.
pub struct Channel {
    /// Wakes the worker to claim messages written `pending`.
    wake: Notify,
    slots: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<HandOff>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<HandOff>>>,
}

impl Channel {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Channel {
            wake: Notify::new(),
            slots: Arc::new(Semaphore::new(IN_FLIGHT)),
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }

    /// Tells the worker that messages wait to be claimed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves once [`Self::wake`] was called (since the last time it resolved).
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    pub fn slots(&self) -> &Arc<Semaphore> {
        &self.slots
    }

    /// Slots for `n` messages, if the worker has them free now.
    pub fn reserve(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).ok()?;
        self.slots.clone().try_acquire_many_owned(n).ok()
    }

    /// Gives committed messages to the worker.
    pub fn hand_over(&self, handoff: HandOff) {
        // The receiver lives as long as the worker; without one the messages stay
        // claimed and are taken over when their lease runs out.
        let _ = self.tx.send(handoff);
    }

    /// The worker's end; there is one worker per process, so only the first call
    /// gets it.
    pub fn take_receiver(&self) -> Option<mpsc::UnboundedReceiver<HandOff>> {
        self.rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Default for Channel {
    fn default() -> Self {
        Self::new()
    }
}
