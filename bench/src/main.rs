//! scanquote's benchmark: one run measures, on this machine and under the same load,
//!
//! 1. acknowledged signed pushes per second to `/wechat` (every push distinct, every
//!    scan durable before its answer), with p50/p99/max latency and errors;
//! 2. the same load against a bare axum handler that only answers `success`, and
//!    scanquote's throughput as a ratio of it;
//! 3. scan-to-delivery: N pushes, and the time until the last news message reached the
//!    WeChat stand-in, with the API answering at once and with 50 ms of latency;
//! 4. API calls: access-token fetches and `qrcode/create` per order however often its
//!    ticket is asked for;
//! 5. peak RSS of the service process;
//! 6. the floor under any implementation (answer, send one message, nothing else), the
//!    durable floor (that, plus the push and its outcome group-committed to the
//!    database under test) and the design's floor (the durable floor writing the scan
//!    and its message in an outbox, as the design's rules ask): what sending, what
//!    durability and what the design's rows alone cost on this machine;
//!
//! on SQLite and (with `TEST_MYSQL_URL`) MariaDB, in plaintext and AES mode. The
//! service, the bare handler and the WeChat stand-in each run in a child process (this
//! binary re-run with a hidden subcommand), so their memory is their own.
//!
//! `cargo run --release -p scanquote-bench -- --help`

mod databases;
mod durable;
mod floors;
mod load;
mod machine;
mod readings;
mod report;
mod server;
mod standin;
mod statements;
mod threads;

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::json;

use databases::{drop_bench_databases, fresh_database};
use durable::Rows;
use floors::{durable_floor, flat_out, floor_delivery};
use machine::Machine;
use readings::{
    DatabaseCpu, api_stats, entries_per_commit, journal_counts, push_latency, service_p99_at_most,
    wait_for_sends,
};
use server::Server;
use threads::Threads;

#[derive(Parser)]
#[command(name = "scanquote-bench")]
struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
    /// Seconds of load per throughput case.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Pushes a second in the set-load latency case (each push case is followed by one).
    #[arg(long, default_value_t = 1000.0)]
    paced_rate: f64,
    /// Pushes in the scan-to-delivery case.
    #[arg(long, default_value_t = 5000)]
    messages: usize,
    /// Orders created (and their codes made) before the run; the pushes scan their codes.
    #[arg(long, default_value_t = 1_000)]
    orders: usize,
    /// Run only these database backends (sqlite, mysql).
    #[arg(long, value_delimiter = ',', default_value = "sqlite,mysql")]
    databases: Vec<String>,
    /// Run only these message modes (plain, aes); none (`--modes` alone) runs only the
    /// floors and the journal's statements.
    #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "plain,aes")]
    modes: Vec<String>,
    /// Run the service under this command, to profile it: `--wrap "perf record -g"`,
    /// `--wrap heaptrack`; `{case}` in it becomes the case's name (`-o /tmp/{case}.perf`).
    /// The memory column still shows the service's own.
    #[arg(long)]
    wrap: Option<String>,
}

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)] // each role serves something; the names say what
enum Role {
    /// (internal) serve scanquote with the environment given.
    #[command(hide = true)]
    ServeScanquote,
    /// (internal) serve a bare axum handler answering `success`.
    #[command(hide = true)]
    ServeBare,
    /// (internal) serve a handler answering `success` that sends one message per push.
    #[command(hide = true)]
    ServeForwarder {
        #[arg(long)]
        api: String,
    },
    /// (internal) the forwarder, recording each push durably before it answers.
    #[command(hide = true)]
    ServeDurableForwarder {
        #[arg(long)]
        api: String,
        #[arg(long)]
        db: String,
        #[arg(long, value_enum, default_value = "push")]
        rows: durable::Rows,
    },
    /// (internal) serve the WeChat API stand-in.
    #[command(hide = true)]
    ServeApi {
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
}

/// The allocator the `scanquote` binary uses, so the service measured here is the one
/// deployed; the bare handler and the stand-in get it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const APP_ID: &str = "wxbench000000001";
const SECRET: &str = "bench-secret";
const TOKEN: &str = "benchtoken";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const ADMIN_TOKEN: &str = "bench-admin-token-0000";

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.role {
        Some(Role::ServeScanquote) => rt.block_on(serve_scanquote()),
        Some(Role::ServeBare) => rt.block_on(standin::serve_bare()),
        Some(Role::ServeForwarder { api }) => rt.block_on(standin::serve_forwarder(api)),
        Some(Role::ServeDurableForwarder { api, db, rows }) => {
            rt.block_on(durable::serve_durable_forwarder(api, db, rows))
        }
        Some(Role::ServeApi { latency_ms }) => rt.block_on(standin::serve_api(latency_ms)),
        // The MariaDB databases go whether the run finished or stopped at an error:
        // the server is shared, and a failed run would leave each case's behind.
        None => rt.block_on(async {
            let ran = run(cli).await;
            drop_bench_databases().await;
            ran
        }),
    }
}

async fn serve_scanquote() -> anyhow::Result<()> {
    let _logs = scanquote::logging::init();
    let config = scanquote::Config::from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = scanquote::App::build(config).await?;
    announce(app.address());
    app.run_until_stopped(scanquote::shutdown_signal()).await
}

/// Tells the bench where this child listens, and its process id: under `--wrap` the
/// bench's child is the wrapper, and it is this process that must be measured and
/// stopped.
pub fn announce(address: std::net::SocketAddr) {
    println!("LISTENING http://{address} {}", std::process::id());
}

/// The service's own p99 bound between two readings of its push latency histogram.
fn service_p99(before: &Option<Vec<(f64, u64)>>, after: Option<Vec<(f64, u64)>>) -> Option<f64> {
    service_p99_at_most(before.as_deref().unwrap_or(&[]), &after?)
}

/// The `--wrap` command for one case, `{case}` replaced by its name, so each case can
/// write a profile of its own.
fn wrap_for(cli: &Cli, case: &str) -> Option<String> {
    cli.wrap.as_ref().map(|w| w.replace("{case}", case))
}

async fn start_service(
    db: &str,
    api: &str,
    aes: bool,
    wrap: Option<&str>,
) -> anyhow::Result<Server> {
    let mut env = vec![
        ("DATABASE_URL", db.to_owned()),
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("WECHAT_APP_ID", APP_ID.to_owned()),
        ("WECHAT_APP_SECRET", SECRET.to_owned()),
        ("WECHAT_TOKEN", TOKEN.to_owned()),
        ("WECHAT_API_BASE", api.to_owned()),
        ("RATE_LIMIT_PER_MINUTE", "0".to_owned()),
        ("ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
    ];
    if aes {
        env.push(("WECHAT_ENCODING_AES_KEY", AES_KEY.to_owned()));
    }
    Server::start_wrapped(wrap, &["serve-scanquote"], &env).await
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    databases::sqlite_synchronous()?;
    let dir = tempfile::tempdir()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.connections * 2)
        .build()?;
    let mut rows = Vec::new();
    let mut n = 0;

    // The ceiling: a bare axum handler under the same load.
    let bare = Server::start(&["serve-bare"], &[]).await?;
    let ceiling = flat_out(&cli, &bare.base).await;
    rows.push(json!({"case": "bare axum", "pushes_per_s": ceiling.per_second, "p50_ms": ceiling.p50_ms, "p99_ms": ceiling.p99_ms,
        "max_ms": ceiling.max_ms, "errors": ceiling.errors, "peak_rss_mib": bare.peak_rss_mib()}));
    bare.stop().await;

    // The floor under any implementation: a push answered at once, and one message sent
    // for it to the API stand-in, and nothing else.
    let floor = floors::floor(&cli, &http).await?;
    let floor_per_s = floor.per_second;
    let mut row = floor.row;
    row["ratio_to_bare"] = json!(floor_per_s / ceiling.per_second.max(1.0));
    rows.push(row);
    for latency in [0u64, 50] {
        rows.push(floor_delivery(&cli, &http, latency, None).await?);
    }

    for database in &cli.databases {
        for kind in [Rows::Push, Rows::Design] {
            n += 1;
            if let Some(db) = fresh_database(database, dir.path(), n).await? {
                let adjacent = floors::floor(&cli, &http).await?;
                let case = (database.as_str(), db.as_str(), kind);
                rows.push(durable_floor(&cli, &http, case, floor_per_s, &adjacent).await?);
            }
            n += 1;
            if let Some(db) = fresh_database(database, dir.path(), n).await? {
                let adjacent = floor_delivery(&cli, &http, 0, None).await?;
                let case = Some((database.as_str(), db.as_str(), kind));
                let mut row = floor_delivery(&cli, &http, 0, case).await?;
                floors::beside_floor_delivery(&mut row, &adjacent);
                rows.push(row);
            }
        }
        n += 1;
        if let Some(db) = fresh_database(database, dir.path(), n).await? {
            rows.push(statements::journal_statements(&cli, database, &db).await?);
        }
        for mode in &cli.modes {
            let aes = mode == "aes";
            n += 1;
            let Some(db) = fresh_database(database, dir.path(), n).await? else {
                eprintln!("{database}: TEST_MYSQL_URL is not set, skipped");
                continue;
            };
            let api = Server::start(&["serve-api", "--latency-ms", "0"], &[]).await?;
            let wrap = wrap_for(&cli, &format!("{database}-{mode}-pushes"));
            let service = start_service(&db, &api.base, aes, wrap.as_deref()).await?;
            let site_key = load::site_key(&http, &service.base, ADMIN_TOKEN).await?;
            let orders = load::create_orders(&http, &service.base, &site_key, cli.orders).await?;
            // Every order's ticket asked for twice: one qrcode/create each.
            let tickets = load::ask_tickets(&http, &service.base, &orders).await?;
            let key = aes.then_some(AES_KEY);
            // The service waits, set up, while the floor runs beside it.
            let adjacent = floors::floor(&cli, &http).await?;
            let latency = push_latency(&http, &service).await;
            let (cpu, db_cpu) = (service.cpu_seconds(), DatabaseCpu::start(database));
            let threads = Threads::start(service.pid());
            let db_threads = db_cpu.as_ref().map(|d| Threads::start(d.pid()));
            let machine = Machine::start();
            let run = load::pushes(
                &service.base,
                cli.connections,
                cli.seconds,
                key,
                &tickets,
                "oB",
                load::Pace::Flat,
            )
            .await;
            let cpu = service.cpu_seconds() - cpu;
            let threads = threads.end().by_name();
            let db_threads = db_threads.map(|t| t.end().busiest());
            let machine = machine.end();
            let stats = api_stats(&http, &api).await;
            let per_commit = entries_per_commit(&http, &service).await;
            let own_p99 = service_p99(&latency, push_latency(&http, &service).await);
            let cpu_us = cpu * 1e6 / (run.acked as f64).max(1.0);
            let mut row = json!({
                "case": format!("scanquote {database} {mode}"), "pushes_per_s": run.per_second, "p50_ms": run.p50_ms,
                "p99_ms": run.p99_ms, "service_p99_ms_at_most": own_p99, "max_ms": run.max_ms, "errors": run.errors,
                "ratio_to_bare": run.per_second / ceiling.per_second.max(1.0),
                "ratio_to_floor": run.per_second / floor_per_s.max(1.0),
                "service_cpu_us_per_push": cpu_us,
                "database_cpu_us_per_push": db_cpu.map(|d| d.us_per(run.acked as u64)),
                "journal_entries_per_commit": per_commit,
                "service_threads": threads, "database_busiest_thread": db_threads,
                "machine_cores": machine,
                "token_fetches": stats["token_calls"], "orders": orders.len(),
                "qrcode_creates_for_orders_asked_twice": stats["qrcode_create_calls"],
                "peak_rss_mib": service.peak_rss_mib(),
            });
            floors::beside_floor(&mut row, &adjacent, run.per_second, cpu_us);
            rows.push(row);

            // Latency at a set load below the most it takes, once the messages of the
            // run above are sent: what a shopper's push meets during a busy campaign.
            wait_for_sends(
                &http,
                &api,
                run.acked as u64,
                Instant::now(),
                Duration::from_secs(60),
            )
            .await;
            let rate = cli.paced_rate;
            let (cpu, journal) = (service.cpu_seconds(), journal_counts(&http, &service).await);
            let latency = push_latency(&http, &service).await;
            let paced = load::pushes(
                &service.base,
                cli.connections,
                cli.seconds,
                key,
                &tickets,
                "oP",
                load::Pace::PerSecond(rate),
            )
            .await;
            let cpu = service.cpu_seconds() - cpu;
            // This case's own entries per commit, apart from the flat run's.
            let per_commit = match (journal, journal_counts(&http, &service).await) {
                (Some((e0, c0)), Some((e1, c1))) => Some((e1 - e0) / (c1 - c0).max(1.0)),
                _ => None,
            };
            rows.push(json!({
                "case": format!("scanquote {database} {mode} at {rate:.0}/s"), "pushes_per_s": paced.per_second,
                "p50_ms": paced.p50_ms, "p99_ms": paced.p99_ms, "max_ms": paced.max_ms, "errors": paced.errors,
                "service_p99_ms_at_most": service_p99(&latency, push_latency(&http, &service).await),
                "service_cpu_us_per_push": cpu * 1e6 / (paced.acked as f64).max(1.0),
                "journal_entries_per_commit": per_commit,
                "peak_rss_mib": service.peak_rss_mib(),
            }));
            service.stop().await;
            api.stop().await;

            for latency in [0u64, 50] {
                n += 1;
                let Some(db) = fresh_database(database, dir.path(), n).await? else {
                    continue;
                };
                let api = Server::start(&["serve-api", "--latency-ms", &latency.to_string()], &[])
                    .await?;
                let wrap = wrap_for(&cli, &format!("{database}-{mode}-delivery-{latency}ms"));
                let service = start_service(&db, &api.base, aes, wrap.as_deref()).await?;
                let site_key = load::site_key(&http, &service.base, ADMIN_TOKEN).await?;
                let orders = load::create_orders(&http, &service.base, &site_key, 100).await?;
                let tickets = load::ask_tickets(&http, &service.base, &orders).await?;
                let adjacent = floor_delivery(&cli, &http, latency, None).await?;
                let (started, cpu) = (Instant::now(), service.cpu_seconds());
                let pushed =
                    load::push_n(&service.base, cli.connections, cli.messages, key, &tickets).await;
                let sent = wait_for_sends(
                    &http,
                    &api,
                    cli.messages as u64,
                    started,
                    Duration::from_secs(120),
                )
                .await;
                let elapsed = started.elapsed().as_secs_f64();
                let cpu = service.cpu_seconds() - cpu;
                let per_commit = entries_per_commit(&http, &service).await;
                let handed = readings::handed_over(&http, &service).await;
                let mut row = json!({
                    "case": format!("delivery {database} {mode} api+{latency}ms"), "messages": cli.messages, "pushed_ok": pushed,
                    "delivered": sent, "handed_over": handed, "seconds": elapsed, "messages_per_s": sent as f64 / elapsed,
                    "service_cpu_us_per_message": cpu * 1e6 / (sent as f64).max(1.0),
                    "journal_entries_per_commit": per_commit,
                    "peak_rss_mib": service.peak_rss_mib(),
                });
                floors::beside_floor_delivery(&mut row, &adjacent);
                rows.push(row);
                service.stop().await;
                api.stop().await;
            }
        }
    }

    report::print(&rows);
    Ok(())
}
