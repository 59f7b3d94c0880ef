//! How the journal gathers a batch: everything waiting, and for send outcomes alone, a
//! moment's wait for a scan or a claim to share their commit.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{Entry, MAX_BATCH};

/// How long send outcomes alone wait for a scan or a claim to commit with
/// (`keep_for_company`).
pub const OUTCOME_LINGER: Duration = Duration::from_millis(5);

/// Adds to `batch` the entries waiting now, up to [`MAX_BATCH`].
pub(super) fn take_waiting(rx: &mut mpsc::Receiver<Entry>, batch: &mut Vec<Entry>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
}

/// A batch of send outcomes alone waits up to [`OUTCOME_LINGER`] for a scan or a claim
/// to share its commit, taking what comes meanwhile.
///
/// At a steady trickle of scans (a campaign's hundreds a second) each send's outcome
/// comes back between two scans, and committing it alone doubled the commits, and
/// so the fsyncs, WAL pages and checkpoints, per push: the journal's busy time, which
/// every push queues behind. Nobody waits on an outcome but its send task (the message
/// is out; the outcome records it), so it may wait a few milliseconds for company. The
/// price: a message WeChat took is marked sent up to that much later, and a process
/// that dies in between sends it again (at least once) or settles it unknown (at most
/// once), as it would within the commit's own time. In MySQL's lane of outcomes no
/// company comes: there the wait gathers a few milliseconds' outcomes into one commit.
pub(super) async fn keep_for_company(rx: &mut mpsc::Receiver<Entry>, batch: &mut Vec<Entry>) {
    let until = tokio::time::Instant::now() + OUTCOME_LINGER;
    while batch.len() < MAX_BATCH {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(next)) => {
                let came = batch.len();
                batch.push(next);
                take_waiting(rx, batch);
                if !batch[came..].iter().all(Entry::is_outcome) {
                    return;
                }
            }
            // The time is up, or the journal is stopping: write what there is.
            Ok(None) | Err(_) => return,
        }
    }
}
