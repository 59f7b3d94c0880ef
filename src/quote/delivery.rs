//! The outbox worker: sends each queued message exactly once, within WeChat's window.
//!
//! A worker is a loop around [`deliver_next`]: claim the oldest due message with a
//! conditional update (so of several workers or instances exactly one wins it), render
//! the template, call `message/custom/send`, and record the result. Transient failures
//! are retried with capped exponential backoff and jitter, but only while the retry still
//! lands inside the minute after the scan in which WeChat accepts messages (afterwards it
//! answers 45015); past that, or on a permanent error, the message is failed with WeChat's
//! errcode and errmsg. A claim is a lease: if its worker dies, the message is taken over
//! once the lease runs out.

use std::time::Duration;

use entity::delivery;
use rand::Rng;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{links, orders, template};
use crate::metrics::Metrics;
use crate::wechat::WechatError;
use crate::{AppError, AppState, db, now_ms};

pub const STATUS_PENDING: &str = "pending";
pub const STATUS_SENDING: &str = "sending";
pub const STATUS_SENT: &str = "sent";
pub const STATUS_FAILED: &str = "failed";

/// WeChat accepts messages for one minute after a scan; keep a margin for clock skew
/// and the request's own time in flight.
pub const WINDOW_MS: i64 = 55_000;
/// How long a claim holds before another worker may take the message over. Longer than
/// the HTTP client's 10 s timeout, so a live worker never loses its claim mid-send.
const LEASE_MS: i64 = 20_000;
/// Claim loops per process…
const WORKERS: usize = 4;
/// …each sending up to this many messages at once, so a slow API round trip is hidden
/// by concurrency (WeChat's one-minute window makes throughput matter).
const BATCH: u64 = 64;
/// Without a wake-up, look for due retries and orphaned claims this often.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// One message was handled (sent, rescheduled or failed).
    Handled,
    /// Another worker claimed the message first.
    Contended,
    /// Nothing is due.
    Idle,
}

pub fn spawn_workers(state: AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    (0..WORKERS)
        .map(|_| tokio::spawn(run_worker(state.clone(), stop.clone())))
        .collect()
}

async fn run_worker(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut failures = 0u32;
    while !*stop.borrow() {
        let pause = match deliver_next(&state).await {
            Ok(Step::Handled | Step::Contended) => {
                failures = 0;
                continue;
            }
            Ok(Step::Idle) => POLL,
            Err(e) => {
                failures += 1;
                tracing::error!(error = %e, "delivery step failed");
                backoff(failures)
            }
        };
        tokio::select! {
            _ = state.outbox.notified() => {}
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Capped exponential backoff with jitter: 0.5 s, 1 s, 2 s, 4 s, then 8 s, each scaled
/// by a random factor in [0.5, 1) so retries from many messages do not arrive together.
pub fn backoff(attempt: u32) -> Duration {
    let base_ms = 500u64 << Ord::min(attempt.saturating_sub(1), 4);
    let factor = rand::thread_rng().gen_range(0.5..1.0);
    Duration::from_millis((base_ms as f64 * factor) as u64)
}

fn due(now: i64) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(delivery::Column::Status.eq(STATUS_PENDING))
                .add(delivery::Column::NextAttemptAtMs.lte(now)),
        )
        .add(
            Condition::all()
                .add(delivery::Column::Status.eq(STATUS_SENDING))
                .add(delivery::Column::LeaseUntilMs.lt(now)),
        )
}

/// Claims up to [`BATCH`] due messages (oldest first) and handles them concurrently.
///
/// The claim is one conditional update over the candidates' ids that stamps them with
/// this call's token; reading back by token tells which ones this worker won, so workers
/// on several instances never send the same message, and none waits for another.
pub async fn deliver_next(state: &AppState) -> Result<Step, AppError> {
    let now = now_ms();
    let candidates: Vec<i64> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .filter(due(now))
        .order_by_asc(delivery::Column::NextAttemptAtMs)
        .limit(BATCH)
        .into_tuple()
        .all(&state.db)
        .await?;
    if candidates.is_empty() {
        return Ok(Step::Idle);
    }
    let token = format!("{}-{:016x}", state.instance_id, rand::random::<u64>());
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(STATUS_SENDING))
        .col_expr(delivery::Column::LeaseUntilMs, Expr::value(now + LEASE_MS))
        .col_expr(
            delivery::Column::Attempts,
            Expr::col(delivery::Column::Attempts).add(1),
        )
        .col_expr(delivery::Column::UpdatedAtMs, Expr::value(now))
        .col_expr(delivery::Column::ClaimToken, Expr::value(token.clone()))
        .filter(delivery::Column::Id.is_in(candidates))
        .filter(due(now))
        .exec(&state.db)
        .await?;
    let claimed = delivery::Entity::find()
        .filter(delivery::Column::ClaimToken.eq(token))
        .filter(delivery::Column::Status.eq(STATUS_SENDING))
        .all(&state.db)
        .await?;
    if claimed.is_empty() {
        return Ok(Step::Contended);
    }
    // Send them all at once, then record every outcome in one transaction: one commit
    // for the batch instead of one per message.
    let outcomes = futures_util::future::join_all(claimed.iter().map(|d| send(state, d))).await;
    // Several instances write the same table; a deadlock between their transactions is
    // resolved by running ours again (its updates are idempotent).
    let mut tries = 0;
    loop {
        tries += 1;
        let recorded = async {
            let txn = state.db.begin().await?;
            for (d, outcome) in claimed.iter().zip(&outcomes) {
                record(state, &txn, d, outcome).await?;
            }
            txn.commit().await?;
            Ok::<(), AppError>(())
        }
        .await;
        match recorded {
            Err(AppError::Db(e)) if db::is_retryable(&e) && tries < db::TRANSACTION_TRIES => {
                tracing::warn!(error = %e, tries, "recording sends hit a lock conflict; again");
                tokio::time::sleep(Duration::from_millis(5 * u64::from(tries))).await;
            }
            other => break other?,
        }
    }
    Ok(Step::Handled)
}

/// Why a send did not succeed.
enum Failure {
    Wechat(WechatError),
    /// Something on our side that retrying will not fix (order gone, template broken).
    Local(String),
}

#[tracing::instrument(name = "send_message", skip_all, fields(delivery = d.id, order = d.order_id))]
async fn send(state: &AppState, d: &delivery::Model) -> Result<(), Failure> {
    // A message taken over from a dead worker may be too late: WeChat would answer 45015.
    if now_ms() > d.deadline_at_ms {
        return Err(Failure::Local(
            "the minute after the scan in which WeChat accepts messages has passed".into(),
        ));
    }
    let order = match orders::cached_order(state, d.order_id).await {
        Ok(order) => order,
        Err(AppError::NotFound) => return Err(Failure::Local("order no longer exists".into())),
        Err(e) => {
            return Err(Failure::Wechat(WechatError::Retry {
                errcode: None,
                reason: e.to_string(),
            }));
        }
    };
    let tpl = template::active_cached(state)
        .await
        .map_err(|e| {
            Failure::Wechat(WechatError::Retry {
                errcode: None,
                reason: e.to_string(),
            })
        })?
        .ok_or_else(|| Failure::Local("no message template".into()))?;
    let quote_url =
        links::LinkSigner::quote_url(&state.links, &state.base_url, &d.openid, order.id);
    let ctx = template::context_for(&order, &d.openid, &quote_url, &state.base_url);
    let article =
        template::render(&tpl, &ctx).map_err(|e| Failure::Local(format!("template: {e}")))?;
    state
        .wechat
        .send_news(&d.openid, &article)
        .await
        .map_err(Failure::Wechat)
}

async fn record(
    state: &AppState,
    conn: &impl ConnectionTrait,
    d: &delivery::Model,
    outcome: &Result<(), Failure>,
) -> Result<(), AppError> {
    // `d` was read back after the claim, so it carries this attempt's number.
    let attempt = d.attempts;
    let now = now_ms();
    // Only while the claim is still ours: had it run out and another worker taken the
    // message over, that worker's state must stand.
    let update = delivery::Entity::update_many()
        .filter(delivery::Column::Id.eq(d.id))
        .filter(delivery::Column::ClaimToken.eq(d.claim_token.clone()))
        .col_expr(delivery::Column::UpdatedAtMs, Expr::value(now));
    let (errcode, errmsg, transient) = match outcome {
        Ok(()) => {
            update
                .col_expr(delivery::Column::Status, Expr::value(STATUS_SENT))
                .col_expr(delivery::Column::SentAtMs, Expr::value(now))
                .col_expr(delivery::Column::Errcode, Expr::value(Option::<i32>::None))
                .col_expr(
                    delivery::Column::Errmsg,
                    Expr::value(Option::<String>::None),
                )
                .exec(conn)
                .await?;
            Metrics::bump(&state.metrics.messages_sent);
            tracing::info!(delivery = d.id, attempt, "message sent");
            return Ok(());
        }
        Err(Failure::Local(reason)) => (None, reason.clone(), false),
        Err(Failure::Wechat(e)) => {
            let transient = e.is_transient();
            let errmsg = match &e {
                WechatError::Rejected { errmsg, .. } | WechatError::RefreshToken { errmsg, .. } => {
                    errmsg.clone()
                }
                other => other.to_string(),
            };
            (
                e.errcode().and_then(|c| i32::try_from(c).ok()),
                errmsg,
                transient,
            )
        }
    };
    let retry_at = now + backoff(attempt as u32).as_millis() as i64;
    let update = update
        .col_expr(delivery::Column::Errcode, Expr::value(errcode))
        .col_expr(delivery::Column::Errmsg, Expr::value(Some(errmsg.clone())));
    if transient && retry_at < d.deadline_at_ms {
        update
            .col_expr(delivery::Column::Status, Expr::value(STATUS_PENDING))
            .col_expr(delivery::Column::NextAttemptAtMs, Expr::value(retry_at))
            .exec(conn)
            .await?;
        Metrics::bump(&state.metrics.messages_retried);
        tracing::warn!(
            delivery = d.id,
            attempt,
            errcode,
            errmsg,
            "send failed, will retry"
        );
    } else {
        update
            .col_expr(delivery::Column::Status, Expr::value(STATUS_FAILED))
            .exec(conn)
            .await?;
        let reason = match (errcode, transient) {
            (Some(code), _) => code.to_string(),
            (None, true) => "network".to_owned(),
            (None, false) => "local".to_owned(),
        };
        state.metrics.failed(&reason);
        tracing::warn!(
            delivery = d.id,
            attempt,
            errcode,
            errmsg,
            "send failed for good"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_caps_and_jitters_downwards() {
        for (attempt, full) in [
            (1, 500),
            (2, 1000),
            (3, 2000),
            (4, 4000),
            (5, 8000),
            (9, 8000),
        ] {
            for _ in 0..50 {
                let ms = backoff(attempt).as_millis() as u64;
                assert!(ms >= full / 2 && ms < full, "attempt {attempt}: {ms} ms");
            }
        }
    }
}
