//! Where a process's threads spent a case: running, or ready to run and waiting for a
//! core (the scheduler's run queue), read from `/proc/<pid>/task/*/schedstat`.
//!
//! CPU per push says how much work a push is; it does not say where pushes wait. On
//! two shared cores the journal's single writer may be idle because it is waiting for
//! a core, not for the database: one MariaDB run showed the journal's thread running
//! 12% of the time and waiting for a core 43%, and the server's thread that executes
//! its transactions running 50% and waiting 18%. Those two numbers per thread tell a
//! serial bottleneck (one thread near 100% running plus waiting) from a machine short
//! of cores (everything waiting).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::{Value, json};

/// Per thread: its name, nanoseconds running, nanoseconds waiting for a core.
type Snapshot = HashMap<String, (String, u64, u64)>;

pub struct Threads {
    pid: u32,
    at_start: Snapshot,
    started: Instant,
}

impl Threads {
    pub fn start(pid: u32) -> Threads {
        Threads {
            pid,
            at_start: snapshot(pid),
            started: Instant::now(),
        }
    }

    /// What each thread alive at the start and now did in between, read once, so
    /// that the views of it agree.
    pub fn end(&self) -> Used {
        let window = self.started.elapsed().as_nanos().max(1) as f64;
        let threads = snapshot(self.pid)
            .into_iter()
            .filter_map(|(tid, (name, ran, waited))| {
                let (_, ran_before, waited_before) = self.at_start.get(&tid)?;
                Some((
                    name,
                    ran.saturating_sub(*ran_before),
                    waited.saturating_sub(*waited_before),
                ))
            })
            .collect();
        Used { threads, window }
    }
}

/// Per thread between two readings: its name, nanoseconds ran and waited for a core;
/// and the window's nanoseconds.
pub struct Used {
    threads: Vec<(String, u64, u64)>,
    window: f64,
}

impl Used {
    /// By thread name (threads of one name summed, with how many there are): the share
    /// of the window each spent running and waiting for a core, where 1.0 is one core
    /// for the whole window.
    pub fn by_name(&self) -> Value {
        let mut named: BTreeMap<&str, (u64, u64, u32)> = BTreeMap::new();
        for (name, ran, waited) in &self.threads {
            let entry = named.entry(name).or_default();
            entry.0 += ran;
            entry.1 += waited;
            entry.2 += 1;
        }
        named
            .into_iter()
            .filter(|(_, (ran, waited, _))| (ran + waited) as f64 / self.window >= 0.01)
            .map(|(name, (ran, waited, threads))| {
                (
                    name.to_owned(),
                    reading(ran, waited, self.window, Some(threads)),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// The one thread that ran most: on a database server whose only busy client is
    /// the journal, the thread executing its transactions.
    pub fn busiest(&self) -> Value {
        self.threads
            .iter()
            .max_by_key(|(_, ran, _)| *ran)
            .map(|(_, ran, waited)| reading(*ran, *waited, self.window, None))
            .unwrap_or(Value::Null)
    }
}

fn reading(ran: u64, waited: u64, window: f64, threads: Option<u32>) -> Value {
    let share = |ns: u64| (ns as f64 / window * 1000.0).round() / 1000.0;
    let mut r = json!({"running": share(ran), "waiting_for_cpu": share(waited)});
    if let Some(n) = threads {
        r["threads"] = n.into();
    }
    r
}

fn snapshot(pid: u32) -> Snapshot {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Snapshot::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let tid = task.file_name().to_str()?.to_owned();
            let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            let (ran, waited) = parse_schedstat(&stat)?;
            Some((tid, (name.trim().to_owned(), ran, waited)))
        })
        .collect()
}

/// `schedstat`: nanoseconds on a CPU, nanoseconds waiting on a run queue, time slices.
fn parse_schedstat(text: &str) -> Option<(u64, u64)> {
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    Some((fields.next()?.ok()?, fields.next()?.ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_gives_running_then_waiting() {
        assert_eq!(
            parse_schedstat("1200 345 7\n"),
            Some((1200, 345)),
            "the first two fields"
        );
        assert_eq!(parse_schedstat("12"), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
    }

    #[test]
    fn a_spinning_thread_reads_as_running_and_a_sleeping_one_does_not() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::time::{Duration, Instant};
        let stop = Arc::new(AtomicBool::new(false));
        // The spinner's turns so far: the readings are taken just after it has run.
        let turns = Arc::new(AtomicU64::new(0));
        let spawn = |name: &str, spin: bool| {
            let (stop, turns) = (stop.clone(), turns.clone());
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if spin {
                            // Always ready to run, but through the scheduler, which
                            // brings its counts up to date at each switch.
                            turns.fetch_add(1, Ordering::Relaxed);
                            std::thread::yield_now();
                        } else {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                })
                .unwrap()
        };
        // The kernel adds a wait for a core to `schedstat` when the wait ends: a thread
        // kept off the cores through a reading reads as having waited nothing. So each
        // reading is taken once the spinner has had a turn after it was due one. And a
        // core the hypervisor takes away counts as neither running nor waiting: the
        // spinner may lose what was stolen from the machine meanwhile. (Two CI runs read
        // the spinner as having done almost nothing, once as `{}`; which of the two
        // took its time there was not recorded.)
        let after_a_turn = || {
            let seen = turns.load(Ordering::Relaxed);
            let deadline = Instant::now() + Duration::from_secs(10);
            while turns.load(Ordering::Relaxed) == seen && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        let spinner = spawn("bench-spinner", true);
        let sleeper = spawn("bench-sleeper", false);
        after_a_turn();
        let machine = crate::machine::Machine::start();
        let threads = Threads::start(std::process::id());
        std::thread::sleep(Duration::from_millis(400));
        after_a_turn();
        // Read while both are alive: a thread gone by the second reading is not read.
        let used = threads.end();
        let stolen = machine.end()["stolen"].as_f64().unwrap_or(0.0);
        let (read, busiest) = (used.by_name(), used.busiest());
        stop.store(true, Ordering::Relaxed);
        spinner.join().unwrap();
        sleeper.join().unwrap();
        let spinning = &read["bench-spinner"];
        let ran = spinning["running"].as_f64().unwrap_or(0.0);
        let waited = spinning["waiting_for_cpu"].as_f64().unwrap_or(0.0);
        // Ready to run the whole window: running or waiting for a core, nearly all
        // of it, however busy the machine, but for what the hypervisor took.
        assert!(ran + waited > 0.8 - stolen, "{read}; {stolen} cores stolen");
        assert_eq!(spinning["threads"], 1, "{read}");
        // Below the 1% shown, or barely above it.
        let slept = read["bench-sleeper"]["running"].as_f64().unwrap_or(0.0);
        assert!(slept < 0.05, "{read}");
        let most = busiest["running"].as_f64().unwrap_or(0.0);
        assert!(most >= ran, "{busiest} {read}");
    }
}
