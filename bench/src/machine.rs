//! The whole machine's CPU over a case, from `/proc/stat`: cores busy (user, system,
//! interrupts), idle with a disk write outstanding (iowait: an fsync), otherwise idle,
//! and stolen by the hypervisor.
//!
//! Per-thread readings say who waited for a core; this says whether any core was free
//! to give. A case whose threads wait for a core while the machine reads idle near 0
//! is bound by the cores, and its rate is the machine's cores over the CPU all its
//! processes spend per push; one that waits with cores idle is bound by a serial path.

use std::time::Instant;

use serde_json::{Value, json};

/// Jiffies since boot: busy, idle, waiting for the disk, stolen.
fn read() -> Option<(u64, u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user)
    let [user, nice, system, idle, iowait, irq, softirq, steal, ..] = f[..] else {
        return None;
    };
    Some((user + nice + system + irq + softirq, idle, iowait, steal))
}

pub struct Machine {
    at_start: Option<(u64, u64, u64, u64)>,
    started: Instant,
}

impl Machine {
    pub fn start() -> Machine {
        Machine {
            at_start: read(),
            started: Instant::now(),
        }
    }

    /// Cores busy, idle, idle waiting for the disk and stolen on average since the
    /// start (2.0 is two whole cores); null where `/proc/stat` cannot be read.
    pub fn end(&self) -> Value {
        let (Some((b0, i0, w0, s0)), Some((b1, i1, w1, s1))) = (self.at_start, read()) else {
            return Value::Null;
        };
        // Jiffies are the kernel's USER_HZ, 100 a second on every Linux this runs on.
        const USER_HZ: f64 = 100.0;
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        let cores = |from: u64, to: u64| {
            let cores = to.saturating_sub(from) as f64 / USER_HZ / seconds;
            (cores * 100.0).round() / 100.0
        };
        json!({"busy": cores(b0, b1), "idle": cores(i0, i1), "iowait": cores(w0, w1),
            "stolen": cores(s0, s1)})
    }
}
