//! The bench's child processes: this binary re-run in a role, its address, its CPU
//! time and its peak memory.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

/// A child process of this binary in `role`, and the address it printed.
pub struct Server {
    child: Child,
    pub base: String,
    /// The server's own process (the child's, unless it runs under a wrapper).
    pid: u32,
}

impl Server {
    pub async fn start(args: &[&str], env: &[(&str, String)]) -> anyhow::Result<Server> {
        Self::start_wrapped(None, args, env).await
    }

    /// [`Server::start`] under the command `wrap`, if one is given.
    pub async fn start_wrapped(
        wrap: Option<&str>,
        args: &[&str],
        env: &[(&str, String)],
    ) -> anyhow::Result<Server> {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let exe = std::env::current_exe()?;
        let mut command = match wrap.map(str::split_whitespace) {
            Some(mut words) => {
                let mut c = Command::new(words.next().unwrap_or_default());
                c.args(words).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let mut child = command
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| match wrap {
                Some(w) => format!("--wrap {w:?}: cannot start it"),
                None => format!("cannot start {args:?}"),
            })?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let (base, pid) = loop {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await??;
            match line {
                Some(l) if l.starts_with("LISTENING ") => {
                    let mut words = l.split_whitespace().skip(1);
                    let base = words.next().unwrap_or_default().to_owned();
                    let pid = words.next().and_then(|p| p.parse().ok());
                    match pid {
                        Some(pid) => break (base, pid),
                        None => anyhow::bail!("{args:?} announced no process id: {l}"),
                    }
                }
                Some(_) => continue,
                None => anyhow::bail!("{args:?} stopped before listening"),
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe: in blocks, not
        // lines, since the service logs a line per scan and per message, and a slow
        // reader here would make its log writer, and then its callers, wait.
        let mut rest = lines.into_inner();
        tokio::spawn(async move { tokio::io::copy(&mut rest, &mut tokio::io::sink()).await });
        Ok(Server { child, base, pid })
    }

    /// Stops the server as an operator would (SIGTERM, so a wrapper such as `perf`
    /// sees its workload end and writes its data), killing it if it has not exited
    /// within 30 s. Dropping a `Server` instead kills only the direct child.
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            eprintln!("pid {} did not stop within 30 s; killed", self.pid);
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status()
                .await;
            let _ = self.child.kill().await;
        }
    }

    /// The server's own process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// CPU time the server's own process has used (user and system), seconds. Unlike
    /// throughput on a shared 2-core machine, this hardly moves with what else runs.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(self.pid)
    }

    /// Peak resident memory (VmHWM) of the server's own process, MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    }
}

/// CPU time process `pid` has used (user and system), seconds; 0 when it cannot be read.
pub fn cpu_seconds_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces:
    // utime and stime are the 12th and 13th of them, in clock ticks (100 a second).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}
