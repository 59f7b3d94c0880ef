//! The cases scanquote is measured against: the floor's delivery, the durable floor and
//! its delivery, and the flat-out load the ceiling and the floors take.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::durable::Rows;
use crate::machine::Machine;
use crate::readings::{DatabaseCpu, wait_for_sends};
use crate::server::Server;
use crate::threads::Threads;
use crate::{Cli, load, wrap_for};

/// The floor, flat out: what any service that sends a message per push does at most.
pub struct Floor {
    pub per_second: f64,
    pub cpu_us_per_push: f64,
    /// Its row in the report.
    pub row: Value,
}

/// Runs the floor (a push answered at once and one message sent for it to the API
/// stand-in, nothing else) flat out, and waits until its sends are all taken.
///
/// Run once at the start of the bench (the row `ratio_to_floor` divides by) and again
/// right before each case that is compared with it (`adjacent_floor`): this machine's
/// speed drifts over minutes (the floor has read 15.8k and 23.7k pushes a second, at
/// 61 and 40 µs a push, in two runs one after the other), and a share of a floor
/// measured minutes away carries that drift.
pub async fn floor(cli: &Cli, http: &reqwest::Client) -> anyhow::Result<Floor> {
    let api = Server::start(&["serve-api", "--latency-ms", "0"], &[]).await?;
    let floor = Server::start(&["serve-forwarder", "--api", &api.base], &[]).await?;
    let (cpu, machine) = (floor.cpu_seconds(), Machine::start());
    let run = flat_out(cli, &floor.base).await;
    let (cpu, machine) = (floor.cpu_seconds() - cpu, machine.end());
    // Its sends finish after their pushes were answered; the row says they all did.
    let timeout = Duration::from_secs(60);
    let sent = wait_for_sends(http, &api, run.acked as u64, Instant::now(), timeout).await;
    let cpu_us_per_push = cpu * 1e6 / (run.acked as f64).max(1.0);
    let row = json!({"case": "bare axum + one send per push", "pushes_per_s": run.per_second,
        "p50_ms": run.p50_ms, "p99_ms": run.p99_ms, "max_ms": run.max_ms, "errors": run.errors,
        "sent": sent, "service_cpu_us_per_push": cpu_us_per_push, "machine_cores": machine,
        "peak_rss_mib": floor.peak_rss_mib()});
    floor.stop().await;
    api.stop().await;
    Ok(Floor {
        per_second: run.per_second,
        cpu_us_per_push,
        row,
    })
}

/// What a case compared with the floor gets from the floor run right before it
/// ([`floor`]): the adjacent floor's figures, the case's share of its pushes and its
/// CPU per push as a multiple of the floor's.
pub fn beside_floor(row: &mut Value, adjacent: &Floor, per_second: f64, cpu_us: f64) {
    row["adjacent_floor"] = json!({"pushes_per_s": adjacent.per_second,
        "service_cpu_us_per_push": adjacent.cpu_us_per_push});
    row["ratio_to_adjacent_floor"] = json!(per_second / adjacent.per_second.max(1.0));
    row["cpu_ratio_to_adjacent_floor"] = json!(cpu_us / adjacent.cpu_us_per_push.max(1e-9));
}

/// What a delivery case gets from the floor's delivery run right before it: that rate,
/// and its own as a share of it.
pub fn beside_floor_delivery(row: &mut Value, adjacent: &Value) {
    let floor = adjacent["messages_per_s"].as_f64().unwrap_or(0.0);
    let own = row["messages_per_s"].as_f64().unwrap_or(0.0);
    row["adjacent_floor_messages_per_s"] = json!(floor);
    row["ratio_to_adjacent_floor_delivery"] = json!(own / floor.max(1.0));
}

/// The durable floor on `db` ([`crate::durable`]), compared with the floor at the run's
/// start (`floor_per_s`) and with `adjacent`, run just before: the floor, plus each push
/// committed before its answer and its outcome after; what the rest of what scanquote
/// does costs is the gap between it and scanquote on the same database.
pub async fn durable_floor(
    cli: &Cli,
    http: &reqwest::Client,
    (database, db, rows): (&str, &str, Rows),
    floor_per_s: f64,
    adjacent: &Floor,
) -> anyhow::Result<Value> {
    let api = Server::start(&["serve-api", "--latency-ms", "0"], &[]).await?;
    let args = durable_args(&api.base, db, rows);
    let wrap = wrap_for(cli, &format!("{}-floor-{database}", rows_name(rows)));
    let durable = Server::start_wrapped(wrap.as_deref(), &args, &[]).await?;
    let (cpu, db_cpu) = (durable.cpu_seconds(), DatabaseCpu::start(database));
    let (threads, load) = (
        Threads::start(durable.pid()),
        Threads::start(std::process::id()),
    );
    let (api_threads, machine) = (Threads::start(api.pid()), Machine::start());
    let run = flat_out(cli, &durable.base).await;
    let cpu = durable.cpu_seconds() - cpu;
    let threads = threads.end().by_name();
    let (load, api_threads, machine) = (
        load.end().by_name(),
        api_threads.end().by_name(),
        machine.end(),
    );
    let timeout = Duration::from_secs(60);
    let sent = wait_for_sends(http, &api, run.acked as u64, Instant::now(), timeout).await;
    let cpu_us = cpu * 1e6 / (run.acked as f64).max(1.0);
    let case = match rows {
        Rows::Push => format!("floor + durable record, {database}"),
        Rows::Design => format!("floor + design's rows, {database}"),
    };
    let mut row = json!({"case": case, "pushes_per_s": run.per_second,
        "p50_ms": run.p50_ms, "p99_ms": run.p99_ms, "max_ms": run.max_ms, "errors": run.errors, "sent": sent,
        "ratio_to_floor": run.per_second / floor_per_s.max(1.0),
        "service_cpu_us_per_push": cpu_us,
        "database_cpu_us_per_push": db_cpu.map(|d| d.us_per(run.acked as u64)),
        "service_threads": threads, "load_threads": load, "api_threads": api_threads,
        "machine_cores": machine,
        "peak_rss_mib": durable.peak_rss_mib()});
    beside_floor(&mut row, adjacent, run.per_second, cpu_us);
    durable.stop().await;
    api.stop().await;
    Ok(row)
}

/// Scan-to-delivery through the floor, or through the durable floor on `durable`
/// (`(database, url)`): `cli.messages` pushes, and the time until the stand-in
/// answering after `latency_ms` has taken the last message; what scanquote's delivery
/// rows compare with. The durable floor's row is the most any design that records each
/// scan before its answer and each outcome after can deliver on that database here.
pub async fn floor_delivery(
    cli: &Cli,
    http: &reqwest::Client,
    latency_ms: u64,
    durable: Option<(&str, &str, Rows)>,
) -> anyhow::Result<Value> {
    let latency = latency_ms.to_string();
    let api = Server::start(&["serve-api", "--latency-ms", &latency], &[]).await?;
    let (floor, case) = match durable {
        None => (
            Server::start(&["serve-forwarder", "--api", &api.base], &[]).await?,
            format!("floor delivery api+{latency_ms}ms"),
        ),
        Some((database, db, rows)) => {
            let args = durable_args(&api.base, db, rows);
            let case = format!("{} delivery {database} api+{latency_ms}ms", rows_name(rows));
            (Server::start(&args, &[]).await?, case)
        }
    };
    let (started, cpu) = (Instant::now(), floor.cpu_seconds());
    let pushed = load::push_n(
        &floor.base,
        cli.connections,
        cli.messages,
        None,
        &bench_tickets(cli),
    )
    .await;
    let timeout = Duration::from_secs(120);
    let sent = wait_for_sends(http, &api, cli.messages as u64, started, timeout).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = floor.cpu_seconds() - cpu;
    let row = json!({"case": case, "messages": cli.messages,
        "pushed_ok": pushed, "delivered": sent, "seconds": elapsed, "messages_per_s": sent as f64 / elapsed,
        "service_cpu_us_per_message": cpu * 1e6 / (sent as f64).max(1.0),
        "peak_rss_mib": floor.peak_rss_mib()});
    floor.stop().await;
    api.stop().await;
    Ok(row)
}

/// The durable floor's command line, writing `rows` on `db`.
fn durable_args<'a>(api: &'a str, db: &'a str, rows: Rows) -> [&'a str; 7] {
    let rows = match rows {
        Rows::Push => "push",
        Rows::Design => "design",
    };
    [
        "serve-durable-forwarder",
        "--api",
        api,
        "--db",
        db,
        "--rows",
        rows,
    ]
}

/// The word the cases of `rows` are named by.
fn rows_name(rows: Rows) -> &'static str {
    match rows {
        Rows::Push => "durable",
        Rows::Design => "design",
    }
}

/// Tickets of the shape the service's are, for the servers that read none.
pub fn bench_tickets(cli: &Cli) -> load::Tickets {
    std::sync::Arc::new((1..=cli.orders).map(|i| format!("gQBench{i}==")).collect())
}

/// Plain pushes at `base` as fast as the clients go (the ceiling and the floor), of
/// the same shape as the service's (these servers read no ticket).
pub async fn flat_out(cli: &Cli, base: &str) -> load::Run {
    load::pushes(
        base,
        cli.connections,
        cli.seconds,
        None,
        &bench_tickets(cli),
        "oB",
        load::Pace::Flat,
    )
    .await
}
