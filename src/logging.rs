//! How the service logs: to standard output, filtered by `RUST_LOG`, by default
//! `info` (one line per scan and per message, with the event's identity) and only
//! warnings from sqlx. The binary and the benchmark set it up the same way, so the
//! benchmark measures the service as it runs.

use tracing_subscriber::EnvFilter;

pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .init();
}
