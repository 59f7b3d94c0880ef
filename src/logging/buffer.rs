//! Where log lines wait for standard output: one buffer that callers append to, and a
//! thread that writes it out in blocks.
//!
//! A line costs its caller a lock and a copy, never a system call or a thread wake-up:
//! the writer sleeps until the buffer has something, then lets lines gather for
//! [`GATHER`] and writes them in one `write`. With a queue of lines and a writer woken
//! for each (as `tracing-appender` does), a quiet stretch followed by a push woke the
//! writer for every line, and at a campaign's steady few hundred pushes a second that
//! was a wake-up and a `write` per line, each taking a core from the pushes on a
//! two-core machine. Nothing is dropped: past [`LIMIT`] waiting bytes (standard
//! output blocked), callers wait for the writer.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long lines gather before a write: a quiet service's line shows this late at most.
const GATHER: Duration = Duration::from_millis(50);
/// Bytes that make the writer go at once instead of waiting out [`GATHER`].
const WRITE_AT: usize = 256 * 1024;
/// Bytes waiting at most; past this, callers wait for the writer.
const LIMIT: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    stopping: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when lines arrive in an empty buffer, reach [`WRITE_AT`], or at stop.
    lines_came: Condvar,
    /// Signalled when the writer has taken the lines: callers past [`LIMIT`] wait on it.
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The callers' end: a `MakeWriter` for `tracing-subscriber`, which formats a whole
/// event, then writes it with one `write_all`.
#[derive(Clone)]
pub struct Lines(Arc<Shared>);

/// Keeps the writer going; dropping it writes out what waits and ends the thread.
#[must_use = "dropping the guard stops the log writer"]
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread, writing to `out`.
pub fn start(out: impl Write + Send + 'static) -> (Lines, Guard) {
    let shared = Arc::new(Shared::default());
    let writer = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_out(&writer, out))
        .expect("a thread for the log writer");
    (
        Lines(shared.clone()),
        Guard {
            shared,
            thread: Some(thread),
        },
    )
}

/// The writer: waits for lines, lets more gather, takes them all and writes them.
fn write_out(shared: &Shared, mut out: impl Write) {
    let mut taken = Vec::new();
    loop {
        let mut state = shared.lock();
        while state.lines.is_empty() && !state.stopping {
            state = shared
                .lines_came
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        if !state.stopping && state.lines.len() < WRITE_AT {
            state = shared
                .lines_came
                .wait_timeout_while(state, GATHER, |s| !s.stopping && s.lines.len() < WRITE_AT)
                .map(|(state, _)| state)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        if state.lines.is_empty() && state.stopping {
            return;
        }
        std::mem::swap(&mut state.lines, &mut taken);
        drop(state);
        shared.room.notify_all();
        // A log that cannot be written (standard output closed) is not worth stopping
        // the service for; the lines are dropped.
        let _ = out.write_all(&taken).and_then(|()| out.flush());
        taken.clear();
        // Keep a block's worth of capacity, not a burst's.
        taken.shrink_to(WRITE_AT);
    }
}

impl Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut state = self.0.lock();
        while state.lines.len() >= LIMIT && !state.stopping {
            state = self.0.room.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        let was_empty = state.lines.is_empty();
        state.lines.extend_from_slice(bytes);
        let full = state.lines.len() >= WRITE_AT;
        drop(state);
        if was_empty || full {
            self.0.lines_came.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Lines {
    type Writer = Lines;

    fn make_writer(&'a self) -> Lines {
        self.clone()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.lines_came.notify_one();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Standard output as a test sees it: what was written, and in how many writes.
    #[derive(Clone, Default)]
    struct Out(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Out {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let mut out = self.0.lock().unwrap();
            out.0.extend_from_slice(bytes);
            out.1 += 1;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Out {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().0.clone()).unwrap()
        }
        fn writes(&self) -> usize {
            self.0.lock().unwrap().1
        }
    }

    #[test]
    fn a_lone_line_is_written_soon_and_a_burst_in_few_writes() {
        let out = Out::default();
        let (mut lines, guard) = start(out.clone());
        let started = Instant::now();
        lines.write_all(b"first\n").unwrap();
        while out.text().is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the line never came"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(out.text(), "first\n");
        let before = out.writes();
        for i in 0..1000 {
            lines.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        drop(guard);
        let text = out.text();
        let expected: String = std::iter::once("first\n".to_owned())
            .chain((0..1000).map(|i| format!("line {i}\n")))
            .collect();
        assert_eq!(text, expected, "every line, in order");
        assert!(
            out.writes() - before <= 3,
            "{} writes",
            out.writes() - before
        );
    }

    #[test]
    fn callers_wait_rather_than_lose_lines_when_output_is_slow() {
        /// Standard output that takes its time with each write.
        #[derive(Clone, Default)]
        struct Slow(Out, Arc<Mutex<usize>>);
        impl Write for Slow {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                std::thread::sleep(Duration::from_millis(20));
                let mut largest = self.1.lock().unwrap();
                *largest = (*largest).max(bytes.len());
                self.0.write(bytes)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let out = Slow::default();
        let (lines, guard) = start(out.clone());
        let line = [b'x'; 1023];
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let mut lines = lines.clone();
                std::thread::spawn(move || {
                    for _ in 0..3000 {
                        lines.write_all(&line).unwrap();
                        lines.write_all(b"\n").unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        drop(guard);
        // 12 MiB through a buffer of 4: nothing lost, and never more than the limit
        // (and the one line that reached it) waiting.
        assert_eq!(out.0.text().len(), 4 * 3000 * 1024);
        let largest = *out.1.lock().unwrap();
        assert!(
            largest < LIMIT + line.len(),
            "{largest} bytes waited at once"
        );
    }
}
