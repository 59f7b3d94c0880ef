//! Group commit for scans. WeChat's pushes arrive concurrently; writing each in its own
//! transaction costs one fsync per push, which caps a SQLite database at a few hundred
//! pushes a second. Instead, callbacks hand their scan to one writer task, which takes
//! everything waiting (up to [`MAX_BATCH`]), writes it in one transaction, commits once,
//! and only then answers each caller: no push is acknowledged before it is durable, and
//! under load one fsync covers many pushes. When pushes are rare a batch is just one
//! scan, so nothing waits for company.
//!
//! Within the batch a retried push is still caught by the unique event identity (a
//! failed insert rolls back only its own statement, on SQLite and MySQL alike).

use entity::{delivery, scan};
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, Set, SqlErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use super::delivery::{STATUS_PENDING, STATUS_SENT, WINDOW_MS};
use crate::AppError;

/// Scans per transaction at most.
const MAX_BATCH: usize = 512;

/// One scan to record, with the message to queue when it points at an order.
pub struct NewScan {
    pub row: scan::ActiveModel,
    pub openid: String,
    pub order_id: Option<i64>,
    /// The card went back as a passive reply: record it sent, queue nothing.
    pub passive: bool,
    pub now: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Recorded,
    Duplicate,
}

type Reply = oneshot::Sender<Result<Written, String>>;

#[derive(Clone)]
pub struct ScanWriter {
    tx: mpsc::Sender<(NewScan, Reply)>,
}

impl ScanWriter {
    pub fn spawn(db: DatabaseConnection) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(db, rx));
        ScanWriter { tx }
    }

    /// Records the scan; returns once it is committed.
    pub async fn write(&self, scan: NewScan) -> Result<Written, AppError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((scan, reply))
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("the scan writer stopped")))?;
        answer
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("the scan writer dropped a scan")))?
            .map_err(|e| AppError::Internal(anyhow::anyhow!("writing scans: {e}")))
    }
}

async fn run(db: DatabaseConnection, mut rx: mpsc::Receiver<(NewScan, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (scans, replies): (Vec<NewScan>, Vec<Reply>) = batch.into_iter().unzip();
        // Instances write the same tables; a deadlock between their batches is resolved
        // by writing ours again (nothing of it was committed).
        let mut tries = 0;
        let written = loop {
            tries += 1;
            match write_batch(&db, &scans).await {
                Err(e) if crate::db::is_retryable(&e) && tries < crate::db::TRANSACTION_TRIES => {
                    tracing::warn!(error = %e, tries, "writing scans hit a lock conflict; again");
                    tokio::time::sleep(std::time::Duration::from_millis(5 * u64::from(tries)))
                        .await;
                }
                other => break other,
            }
        };
        match written {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "a batch of scans could not be written");
                for reply in replies {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

async fn write_batch(db: &DatabaseConnection, scans: &[NewScan]) -> Result<Vec<Written>, DbErr> {
    let txn = db.begin().await?;
    let mut results = Vec::with_capacity(scans.len());
    for s in scans {
        let inserted = match s.row.clone().insert(&txn).await {
            Ok(row) => row,
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                results.push(Written::Duplicate);
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Some(order_id) = s.order_id {
            let now = s.now;
            delivery::ActiveModel {
                scan_id: Set(inserted.id),
                openid: Set(s.openid.clone()),
                order_id: Set(order_id),
                status: Set(if s.passive {
                    STATUS_SENT
                } else {
                    STATUS_PENDING
                }
                .into()),
                attempts: Set(i32::from(s.passive)),
                sent_at_ms: Set(s.passive.then_some(now)),
                claim_token: Set(s.passive.then(|| "passive-reply".to_owned())),
                next_attempt_at_ms: Set(now),
                lease_until_ms: Set(0),
                deadline_at_ms: Set(now + WINDOW_MS),
                created_at_ms: Set(now),
                updated_at_ms: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
        results.push(Written::Recorded);
    }
    txn.commit().await?;
    Ok(results)
}
