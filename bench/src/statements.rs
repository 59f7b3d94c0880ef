//! The journal's statements alone: batches of the shape the flat runs commit (26 scans,
//! each with its push's signature and its message written claimed, and the sent
//! outcomes of the batch before), written by scanquote's own code (`enqueue::insert`,
//! `outcomes::apply`, the claimed messages read back as the journal reads them, and on
//! SQLite the identities and signatures judged as the journal judges them)
//! through its journal connection, one transaction after another, with no HTTP, no
//! sending and no other load in the way.
//!
//! What the database spends per scan here is its share of a push, without the rest of
//! the machine's noise: on MariaDB, the server's CPU held within a few µs between runs
//! where the full cases moved by tens; on SQLite, the writing is this process's own
//! CPU, and its write calls (WAL frames, and the checkpointer's copies into the file)
//! are counted in bytes. A change to what the journal writes can be judged here in a
//! minute, before the full cases confirm it.

use std::time::{Duration, Instant};

use scanquote::db::Writer;
use scanquote::quote::outbox::claims;
use scanquote::quote::outbox::enqueue::{
    self, ClaimedFor, Message, NewScan, ScanRow, Seen, Written,
};
use scanquote::quote::outbox::journal::memory::Memory;
use scanquote::quote::outbox::outcomes::{self, Outcome};
use scanquote::quote::outbox::retry::Change;
use serde_json::{Value, json};

use crate::databases::sqlite_synchronous;
use crate::readings::DatabaseCpu;
use crate::server::cpu_seconds_of;
use crate::{Cli, TOKEN};

/// Scans per transaction: about what a flat run's commit carries.
const BATCH: usize = 26;

/// Writes batches to the fresh `database` at `db` for `cli.seconds`, SQLite at the
/// `SQLITE_SYNCHRONOUS` the service is run with.
pub async fn journal_statements(cli: &Cli, database: &str, db: &str) -> anyhow::Result<Value> {
    let shared = scanquote::db::connect(db).await?;
    scanquote::db::migrate(&shared).await?;
    let writer = scanquote::db::connect_writer(db, &shared, sqlite_synchronous()?).await?;
    if let Writer::MySql(own) = &writer {
        own.connect().await?;
    }
    let db_cpu = DatabaseCpu::start(database);
    let own_cpu = cpu_seconds_of(std::process::id());
    let written = written_bytes();
    let started = Instant::now();
    let (mut scans, mut batches) = (0usize, 0usize);
    let mut sent_before = Vec::new();
    let mut memory = Memory::default();
    while started.elapsed() < Duration::from_secs(cli.seconds) {
        let now = scanquote::now_ms();
        let token = format!("bench-{batches}");
        let claimed = ClaimedFor {
            token: &token,
            lease_until_ms: now + 20_000,
        };
        let batch: Vec<NewScan> = (scans..scans + BATCH).map(|n| scan(n, now)).collect();
        let recorded = [Written::Recorded; BATCH];
        let outcomes: Vec<Outcome> = std::mem::take(&mut sent_before)
            .into_iter()
            .map(Outcome::sent)
            .collect();
        let changes: Vec<Change> = outcomes.iter().map(|_| Change::Sent).collect();
        sent_before = match &writer {
            Writer::MySql(own) => {
                let ((), ids) = own
                    .transaction_reading(async |c| {
                        enqueue::insert(c, &batch, &recorded, 0, Some(&claimed)).await?;
                        outcomes::apply(c, &outcomes, &changes, now).await
                    })
                    .await?;
                let queued = enqueue::queued_messages(&batch, &recorded);
                enqueue::claimed_messages(&queued, &claimed, &ids)?
            }
            Writer::Dedicated(own) => {
                own.transaction(async |c| {
                    // As the journal judges a batch on SQLite.
                    let identities = &mut memory.identities;
                    identities.catch_up(c, now / 1000).await?;
                    identities.stored(c, &batch).await?;
                    memory.signatures.catch_up(c).await?;
                    memory.signatures.known(c, &batch).await?;
                    let after = memory.identities.last_id();
                    enqueue::insert(c, &batch, &recorded, after, Some(&claimed)).await?;
                    outcomes::apply(c, &outcomes, &changes, now).await?;
                    claims::claimed_in(c, claimed.token)
                })
                .await?
            }
            Writer::Pool(_) => anyhow::bail!("{database}: no journal connection of its own"),
        };
        anyhow::ensure!(
            sent_before.len() == BATCH,
            "a batch read back {} messages of {BATCH}",
            sent_before.len()
        );
        scans += BATCH;
        batches += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let own_cpu = cpu_seconds_of(std::process::id()) - own_cpu;
    let written = written_bytes()
        .zip(written)
        .map(|(after, before)| after - before);
    Ok(
        json!({"case": format!("journal statements alone, {database}"), "batches": batches,
        "scans_per_batch": BATCH, "pushes_per_s": scans as f64 / seconds,
        "database_cpu_us_per_push": db_cpu.map(|d| d.us_per(scans as u64)),
        "service_cpu_us_per_push": own_cpu * 1e6 / (scans as f64).max(1.0),
        "written_kib_per_push": written.map(|b| b as f64 / 1024.0 / (scans as f64).max(1.0))}),
    )
}

/// What this process has handed to `write` calls so far (`/proc/self/io`'s `wchar`):
/// on SQLite, the journal's WAL frames and the checkpointer's copies.
fn written_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: ")?.trim().parse().ok())
}

/// Scan `n` of an order's code, as a push of the bench's load records it: its openid
/// scattered, as WeChat's are, over the identities of its second.
fn scan(n: usize, now: i64) -> NewScan {
    let openid = format!("oJ{:026}", (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let event_time = now / 1000;
    let order = (n % 1000 + 1) as i64;
    NewScan {
        identity: format!("{event_time:013}|{openid}|SCAN|{order}"),
        row: ScanRow {
            openid,
            event: "SCAN",
            scene: order.to_string(),
            ticket: Some(format!("gQBench{order}==")),
            qr_code_id: Some(order),
            order_id: Some(order),
            event_time,
            received_at_ms: now,
        },
        message: Message::Queue,
        event: None,
        // As WeChat signs a push: a SHA-1 (of its timestamp and nonce), scattered over the
        // signatures' index as the service's are.
        seen: Some(Seen {
            signature: scanquote::wechat::signature::sign(&[TOKEN, &n.to_string()]),
            body_sha256: format!("{n:064x}"),
        }),
        extra: Vec::new(),
        order: None,
    }
}
