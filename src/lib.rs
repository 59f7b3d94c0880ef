//! scanquote: a shopper keeps a price quote by scanning a WeChat QR code.
//!
//! Layout: [`wechat`] speaks the platform and knows nothing of orders or storage;
//! [`quote`] is the domain (orders, QR codes, scans, the outbox and its worker, the
//! message card, signed links), reached through one [`quote::Domain`] and knowing
//! nothing of HTTP; [`http`] holds thin handlers that parse, call the domain and
//! render, every router merged in one place; [`sandbox`] stands in for WeChat when no
//! credentials are configured, with its own state and router. [`db`] connects and
//! keeps what every room stores with (leases, batches, error kinds, the token store);
//! [`images`] draws codes and pictures. [`app`] wires them together so `main` and the
//! tests start the service the same way; [`ops`] holds the operator's commands beside
//! it (`doctor`, `backup`); [`config`], [`error`], [`logging`] and
//! [`metrics`] are shared by all.
//!
//! # Boxed miss paths
//! On the hot paths (a push, a send) a cache answers nearly always, and the rare miss
//! is a query or an API call behind `Box::pin(…)`. A query's future is large
//! (sea-orm's and sqlx's state together take kilobytes), and an `async fn` that awaits
//! one inline holds that much in its own future even on the path that never queries;
//! tokio copies a task's whole future when it spawns and when it finishes it, so every
//! send's task carried ~10 KB for queries it did not make. For the same reason a send's
//! task is spawned boxed. This is the one place that says so.

pub mod app;
pub mod config;
pub mod db;
pub mod error;
pub mod fresh;
pub mod http;
pub mod images;
pub mod logging;
pub mod metrics;
pub mod ops;
pub mod quote;
pub mod sandbox;
pub mod wechat;

pub use app::{App, AppState, SHUTDOWN_GRACE, shutdown_signal};
pub use config::Config;
pub use error::AppError;

/// Milliseconds since the Unix epoch, the unit of every stored time.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
