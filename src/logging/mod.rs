//! How the service logs: to standard output, filtered by `RUST_LOG`, by default
//! `info` (one line per scan and per message, with the event's identity) and only
//! warnings from sqlx. The binary and the benchmark set it up the same way, so the
//! benchmark measures the service as it runs.
//!
//! Lines are written by a thread of their own, in blocks (`buffer`): under a campaign
//! the service logs thousands of lines a second, and a `write` per line on the request
//! path cost more than the rest of the logging. Nothing is dropped: when the buffer is
//! full, callers wait. Colours only when a person is watching a terminal.
//!
//! `LOG_FORMAT=json` writes one JSON object a line instead (`timestamp`, `level`,
//! `target`, `message` and the event's fields, such as a scan's `identity`), for
//! journald and log collectors. No secret is ever a field.

mod buffer;
mod clock;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub use buffer::Guard;

/// Starts logging. Keep the guard until the process ends: dropping it writes out the
/// lines still waiting.
#[must_use = "dropping the guard stops the log writer"]
pub fn init() -> Guard {
    let stdout = std::io::stdout();
    let ansi = stdout.is_terminal();
    let (writer, guard) = buffer::start(stdout);
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(clock::Clock)
        .with_writer(writer);
    match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
        Ok("") | Ok("text") | Err(_) => builder.with_ansi(ansi).init(),
        Ok(other) => {
            builder.with_ansi(ansi).init();
            tracing::warn!(
                log_format = other,
                "LOG_FORMAT must be json or text; writing text"
            );
        }
    }
    guard
}

/// Whether lines are JSON (`LOG_FORMAT=json`).
pub fn json() -> bool {
    std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json")
}

/// A line for the operator at start (where the service listens, a token shown once):
/// as it is, or as one JSON object when the logs are JSON, so every line of standard
/// output parses the same way.
pub fn say(line: &str) {
    if json() {
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        println!(
            "{}",
            serde_json::json!({ "timestamp": at, "level": "INFO", "target": "scanquote", "message": line })
        );
    } else {
        println!("{line}");
    }
}
