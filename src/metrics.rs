//! Counters for `/metrics`, in Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub scans_received: AtomicU64,
    pub duplicate_pushes: AtomicU64,
    pub messages_sent: AtomicU64,
    pub messages_retried: AtomicU64,
    pub messages_failed: AtomicU64,
}

impl Metrics {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, token_fetches: u64) -> String {
        let mut out = String::new();
        let rows = [
            (
                "scanquote_scans_received_total",
                "Scan events recorded",
                self.scans_received.load(Ordering::Relaxed),
            ),
            (
                "scanquote_duplicate_pushes_total",
                "Retried pushes dropped",
                self.duplicate_pushes.load(Ordering::Relaxed),
            ),
            (
                "scanquote_messages_sent_total",
                "News messages WeChat accepted",
                self.messages_sent.load(Ordering::Relaxed),
            ),
            (
                "scanquote_messages_retried_total",
                "Send attempts rescheduled",
                self.messages_retried.load(Ordering::Relaxed),
            ),
            (
                "scanquote_messages_failed_total",
                "Messages given up on",
                self.messages_failed.load(Ordering::Relaxed),
            ),
            (
                "scanquote_token_fetches_total",
                "Access tokens fetched by this process",
                token_fetches,
            ),
        ];
        for (name, help, value) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        out
    }
}
