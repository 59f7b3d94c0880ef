//! Counters for `/metrics`, in Prometheus text format, and the WeChat API's latency
//! (the client tells [`Metrics`] of each call as its [`ApiObserver`]).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::wechat::client::ApiObserver;

/// Upper bounds (ms) of the API latency histogram's buckets.
pub const LATENCY_BUCKETS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// Upper bounds (ms) of the push latency histogram's buckets, up to WeChat's 5 s wait.
pub const PUSH_BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

/// How long pushes took to answer, from their request reaching `/wechat` to the answer
/// leaving the handler: what WeChat waits for (it gives up at 5 s and retries). Atomic,
/// not behind a lock like the API's: every push updates it. Each push counts in its own
/// bucket only; `/metrics` sums them into Prometheus's cumulative ones.
#[derive(Debug, Default)]
struct PushLatency {
    /// Pushes within each bound of [`PUSH_BUCKETS_MS`] and above the one before.
    buckets: [AtomicU64; PUSH_BUCKETS_MS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

/// Cumulative bucket counts (as Prometheus wants them), count and sum.
#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS_MS.len()],
    count: u64,
    sum_ms: f64,
}

#[derive(Default)]
pub struct Metrics {
    pub scans_received: AtomicU64,
    pub duplicate_pushes: AtomicU64,
    /// Pushes refused because their query came before with another body.
    pub replays_refused: AtomicU64,
    pub messages_sent: AtomicU64,
    pub messages_retried: AtomicU64,
    pub messages_failed: AtomicU64,
    /// At most once: messages whose outcome is unknown, left for the owner.
    pub messages_unknown: AtomicU64,
    /// Webhook events the shop's server took, and those given up on after a day.
    pub webhooks_sent: AtomicU64,
    pub webhooks_failed: AtomicU64,
    /// Messages the journal gave the worker already claimed (see `quote::handoff`).
    pub messages_handed_over: AtomicU64,
    /// Transactions the journal committed, and the entries (scans, claims, outcomes)
    /// they carried: their ratio says how well group commit is working.
    pub journal_commits: AtomicU64,
    pub journal_entries: AtomicU64,
    /// Push signatures the replay guard holds in memory (SQLite; `journal::recent`),
    /// about 50 bytes each, as of the last committed batch. It grows with plaintext
    /// pushes; rows the sweeper removed are forgotten at the next batch that brings a
    /// signature, so it falls only while plaintext pushes keep coming.
    pub replay_guard_signatures: AtomicU64,
    /// Scans' identities the journal holds in memory to know WeChat's retries by
    /// (SQLite; `journal::identities`): those of the last 30 s of pushes, about 15
    /// bytes each, as of the last committed batch.
    pub retry_guard_identities: AtomicU64,
    /// Failed messages by reason: WeChat's errcode, or `network`/`local`.
    failed_by_reason: Mutex<BTreeMap<String, u64>>,
    /// How long each WeChat API took, by path.
    api_latency: Mutex<BTreeMap<String, Histogram>>,
    push_latency: PushLatency,
}

impl ApiObserver for Metrics {
    fn api_called(&self, path: &str, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        let mut map = self.api_latency.lock().unwrap_or_else(|p| p.into_inner());
        // Looked up before inserting: a key is allocated once per path, not per call.
        let h = match map.get_mut(path) {
            Some(h) => h,
            None => map.entry(path.to_owned()).or_default(),
        };
        h.count += 1;
        h.sum_ms += ms;
        for (bucket, bound) in h.buckets.iter_mut().zip(LATENCY_BUCKETS_MS) {
            if ms <= bound as f64 {
                *bucket += 1;
            }
        }
    }
}

/// What `/metrics` reads from the database at scrape time.
pub struct OutboxGauge {
    /// Messages not yet sent or failed.
    pub depth: u64,
    /// Age of the oldest of them, seconds.
    pub oldest_age_seconds: f64,
}

impl Metrics {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A push was answered `elapsed` after its request reached `/wechat`.
    pub fn push_answered(&self, elapsed: Duration) {
        let h = &self.push_latency;
        let ms = elapsed.as_secs_f64() * 1000.0;
        if let Some(i) = PUSH_BUCKETS_MS.iter().position(|&b| ms <= b as f64) {
            Self::bump(&h.buckets[i]);
        }
        Self::bump(&h.count);
        h.sum_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn failed(&self, reason: &str) {
        Self::bump(&self.messages_failed);
        let mut map = self
            .failed_by_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *map.entry(reason.to_owned()).or_default() += 1;
    }

    pub fn render(&self, token_fetches: u64, outbox: &OutboxGauge) -> String {
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
                "scanquote_replays_refused_total",
                "Pushes whose signed query came before with another body",
                self.replays_refused.load(Ordering::Relaxed),
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
                "scanquote_messages_unknown_total",
                "Messages whose outcome is unknown, not sent again (at most once)",
                self.messages_unknown.load(Ordering::Relaxed),
            ),
            (
                "scanquote_messages_handed_over_total",
                "Messages sent without a claim of their own, handed over as recorded",
                self.messages_handed_over.load(Ordering::Relaxed),
            ),
            (
                "scanquote_webhooks_sent_total",
                "Webhook events the shop's server took",
                self.webhooks_sent.load(Ordering::Relaxed),
            ),
            (
                "scanquote_webhooks_failed_total",
                "Webhook events given up on",
                self.webhooks_failed.load(Ordering::Relaxed),
            ),
            (
                "scanquote_journal_commits_total",
                "Transactions the journal committed",
                self.journal_commits.load(Ordering::Relaxed),
            ),
            (
                "scanquote_journal_entries_total",
                "Scans, claims and send outcomes those transactions carried",
                self.journal_entries.load(Ordering::Relaxed),
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
        let _ = writeln!(
            out,
            "# HELP scanquote_messages_failed_by_reason_total Messages given up on, by errcode\n# TYPE scanquote_messages_failed_by_reason_total counter"
        );
        for (reason, n) in self
            .failed_by_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "scanquote_messages_failed_by_reason_total{{reason=\"{reason}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP scanquote_replay_guard_signatures Push signatures the replay guard holds in memory (SQLite)\n# TYPE scanquote_replay_guard_signatures gauge\nscanquote_replay_guard_signatures {}",
            self.replay_guard_signatures.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP scanquote_retry_guard_identities Scan identities held in memory to know WeChat's retries by (SQLite)\n# TYPE scanquote_retry_guard_identities gauge\nscanquote_retry_guard_identities {}",
            self.retry_guard_identities.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP scanquote_outbox_depth Messages waiting to be sent\n# TYPE scanquote_outbox_depth gauge\nscanquote_outbox_depth {}",
            outbox.depth
        );
        let _ = writeln!(
            out,
            "# HELP scanquote_outbox_oldest_age_seconds Age of the oldest waiting message\n# TYPE scanquote_outbox_oldest_age_seconds gauge\nscanquote_outbox_oldest_age_seconds {:.3}",
            outbox.oldest_age_seconds
        );
        self.render_push_latency(&mut out);
        let _ = writeln!(
            out,
            "# HELP scanquote_wechat_api_duration_seconds WeChat API latency\n# TYPE scanquote_wechat_api_duration_seconds histogram"
        );
        let latencies = self.api_latency.lock().unwrap_or_else(|p| p.into_inner());
        for (path, h) in latencies.iter() {
            for (bound, n) in LATENCY_BUCKETS_MS.iter().zip(h.buckets) {
                let _ = writeln!(
                    out,
                    "scanquote_wechat_api_duration_seconds_bucket{{api=\"{path}\",le=\"{}\"}} {n}",
                    *bound as f64 / 1000.0
                );
            }
            let _ = writeln!(
                out,
                "scanquote_wechat_api_duration_seconds_bucket{{api=\"{path}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "scanquote_wechat_api_duration_seconds_sum{{api=\"{path}\"}} {:.6}",
                h.sum_ms / 1000.0
            );
            let _ = writeln!(
                out,
                "scanquote_wechat_api_duration_seconds_count{{api=\"{path}\"}} {}",
                h.count
            );
        }
        out
    }

    fn render_push_latency(&self, out: &mut String) {
        let name = "scanquote_push_duration_seconds";
        let h = &self.push_latency;
        let _ = writeln!(
            out,
            "# HELP {name} Time from a push reaching /wechat to its answer\n# TYPE {name} histogram"
        );
        let mut within = 0;
        for (bound, n) in PUSH_BUCKETS_MS.iter().zip(&h.buckets) {
            within += n.load(Ordering::Relaxed);
            let le = *bound as f64 / 1000.0;
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {within}");
        }
        let count = h.count.load(Ordering::Relaxed);
        let sum = h.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum:.6}\n{name}_count {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    }

    #[test]
    fn push_latency_is_a_cumulative_histogram_up_to_wechats_wait() {
        let m = Metrics::default();
        m.push_answered(Duration::from_micros(500));
        m.push_answered(Duration::from_millis(3));
        m.push_answered(Duration::from_millis(5));
        m.push_answered(Duration::from_secs(7));
        let text = m.render(
            0,
            &OutboxGauge {
                depth: 0,
                oldest_age_seconds: 0.0,
            },
        );
        let bucket = |le: &str| {
            line(
                &text,
                &format!("scanquote_push_duration_seconds_bucket{{le=\"{le}\"}}"),
            )
        };
        assert_eq!(bucket("0.001"), "1");
        assert_eq!(bucket("0.002"), "1");
        // A bound holds the pushes that took exactly that long.
        assert_eq!(bucket("0.005"), "3");
        assert_eq!(bucket("5"), "3");
        // Past WeChat's wait, only in +Inf.
        assert_eq!(bucket("+Inf"), "4");
        assert_eq!(line(&text, "scanquote_push_duration_seconds_count"), "4");
        assert_eq!(
            line(&text, "scanquote_push_duration_seconds_sum"),
            "7.008500"
        );
    }
}
