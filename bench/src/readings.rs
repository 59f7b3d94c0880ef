//! What the bench reads off its child processes while a case runs: the WeChat
//! stand-in's call counts, the service's journal counters, and the CPU the local
//! database server spends.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::server::{Server, cpu_seconds_of};

pub async fn api_stats(http: &reqwest::Client, api: &Server) -> Value {
    match http.get(format!("{}/stats", api.base)).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// Waits until the stand-in `api` has taken `n` messages, or `limit` has passed since
/// `since`; returns how many it has taken.
pub async fn wait_for_sends(
    http: &reqwest::Client,
    api: &Server,
    n: u64,
    since: Instant,
    limit: Duration,
) -> u64 {
    loop {
        let sent = api_stats(http, api).await["custom_send_calls"]
            .as_u64()
            .unwrap_or(0);
        if sent >= n || since.elapsed() >= limit {
            return sent;
        }
        // Often enough that a delivery case of a few tenths of a second reads true.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Entries per journal transaction so far: how many scans, claims and send outcomes
/// one commit (one fsync) carried on average.
pub async fn entries_per_commit(http: &reqwest::Client, service: &Server) -> Option<f64> {
    journal_counts(http, service)
        .await
        .map(|(entries, commits)| entries / commits.max(1.0))
}

/// The service's `/metrics` as text.
async fn metrics(http: &reqwest::Client, service: &Server) -> Option<String> {
    let r = http.get(format!("{}/metrics", service.base)).send().await;
    r.ok()?.text().await.ok()
}

/// The journal's entries and commits so far.
pub async fn journal_counts(http: &reqwest::Client, service: &Server) -> Option<(f64, f64)> {
    let text = metrics(http, service).await?;
    Some((
        counter(&text, "scanquote_journal_entries_total")?,
        counter(&text, "scanquote_journal_commits_total")?,
    ))
}

/// How many messages the journal handed to the worker as it committed their scans; the
/// others were written pending for lack of a free send slot, and waited for the
/// worker to claim them (the send slots' count, `outbox::handoff::IN_FLIGHT`, is
/// judged by this and the delivery's rate).
pub async fn handed_over(http: &reqwest::Client, service: &Server) -> Option<f64> {
    counter(
        &metrics(http, service).await?,
        "scanquote_messages_handed_over_total",
    )
}

/// A counter's value in `/metrics` text.
fn counter(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The CPU of the database server a case runs on, when it is a MariaDB or MySQL server
/// on this machine: on MariaDB it does as much of a push's work as the service does, and
/// the service's CPU alone hides it.
pub struct DatabaseCpu {
    pid: u32,
    at_start: f64,
}

impl DatabaseCpu {
    /// Starts counting for the `database` a case runs on (`sqlite` runs inside the
    /// service); `None` when its server is not a process of this machine.
    pub fn start(database: &str) -> Option<DatabaseCpu> {
        if database != "mysql" {
            return None;
        }
        let url = std::env::var("TEST_MYSQL_URL").ok()?;
        let host = reqwest::Url::parse(&url).ok()?.host_str()?.to_owned();
        if !matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]") {
            return None;
        }
        let pid = std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .find_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let name = std::fs::read_to_string(entry.path().join("comm")).ok()?;
                matches!(name.trim(), "mariadbd" | "mysqld").then_some(pid)
            })?;
        Some(DatabaseCpu {
            pid,
            at_start: cpu_seconds_of(pid),
        })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's CPU since the start, in microseconds per one of `n` units of work.
    pub fn us_per(&self, n: u64) -> f64 {
        (cpu_seconds_of(self.pid) - self.at_start) * 1e6 / (n as f64).max(1.0)
    }
}

/// The service's own push latency histogram (`scanquote_push_duration_seconds`): each
/// bucket's bound in ms and the pushes within it, cumulative.
pub async fn push_latency(http: &reqwest::Client, service: &Server) -> Option<Vec<(f64, u64)>> {
    let text = metrics(http, service).await?;
    let buckets: Vec<(f64, u64)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("scanquote_push_duration_seconds_bucket{le=\"")?;
            let (le, n) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse::<f64>().ok()? * 1000.0
            };
            Some((le, n.parse().ok()?))
        })
        .collect();
    (!buckets.is_empty()).then_some(buckets)
}

/// The bound (ms) under which 99% of the pushes between two readings were answered, as
/// the service timed them: from the request reaching `/wechat` to its answer, without
/// the load generator's own waits. A bucket's bound, so "at most".
pub fn service_p99_at_most(before: &[(f64, u64)], after: &[(f64, u64)]) -> Option<f64> {
    let pushes = |i: usize| after[i].1 - before.get(i).map_or(0, |b| b.1);
    let total = pushes(after.len().checked_sub(1)?);
    (0..after.len())
        .find(|&i| pushes(i) as f64 >= 0.99 * total as f64)
        .map(|i| after[i].0)
}

#[cfg(test)]
mod tests {
    use super::{counter, service_p99_at_most};

    #[test]
    fn a_counter_is_read_by_its_whole_name() {
        let text = "# HELP scanquote_messages_handed_over_total Messages …\n\
                    scanquote_messages_handed_over_total_x 7\n\
                    scanquote_messages_handed_over_total 4980\n";
        assert_eq!(
            counter(text, "scanquote_messages_handed_over_total"),
            Some(4980.0)
        );
        assert_eq!(counter(text, "scanquote_messages_handed"), None);
    }

    #[test]
    fn the_service_p99_is_the_first_bound_holding_99_percent_of_the_pushes_between_readings() {
        let before = [(1.0, 10), (2.0, 10), (5.0, 10), (f64::INFINITY, 10)];
        let after = [(1.0, 60), (2.0, 108), (5.0, 109), (f64::INFINITY, 110)];
        // 100 pushes between: 50 within 1 ms, 98 within 2, 99 within 5.
        assert_eq!(service_p99_at_most(&before, &after), Some(5.0));
        // Read from the start: 110 pushes, 108 within 2 ms is under 99%.
        assert_eq!(service_p99_at_most(&[], &after), Some(5.0));
        let all_fast = [(1.0, 110), (2.0, 110), (5.0, 110), (f64::INFINITY, 110)];
        assert_eq!(service_p99_at_most(&before, &all_fast), Some(1.0));
        assert_eq!(service_p99_at_most(&before, &[]), None);
    }
}
