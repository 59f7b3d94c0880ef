//! The outbox worker: sends each queued message once, within WeChat's window.
//!
//! One claim loop per process keeps up to [`IN_FLIGHT`] sends going: it claims due
//! messages with a conditional update (so of several instances exactly one wins each),
//! starts a send for each, and claims more as sends finish, so a slow API round trip is
//! hidden by concurrency and no send waits for a slower one. A fresh scan's message
//! usually skips the claim: the journal writes it claimed and hands it over
//! ([`handoff`](super::handoff)); the claim loop takes retries, orphans, and what
//! arrived while every send slot was taken. Each outcome goes to the
//! [`journal`](super::journal), which commits outcomes as they come, many per
//! transaction: a message is marked sent within milliseconds of WeChat's answer.
//!
//! Transient failures are retried with capped exponential backoff and jitter, but only
//! while the retry still lands inside the minute after the scan in which WeChat accepts
//! messages (afterwards it answers 45015); past that, or on a permanent error, the
//! message is failed with WeChat's errcode and errmsg. A claim is a lease: if its
//! instance dies, the message is taken over once the lease runs out.

use std::time::Duration;

use entity::delivery;
use rand::Rng;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::handoff::{HandOff, IN_FLIGHT};
use super::outcome_rows::Failure;
use super::{links, orders, template};
use crate::metrics::Metrics;
use crate::wechat::WechatError;
use crate::{AppError, AppState, now_ms};

pub const STATUS_PENDING: &str = "pending";
pub const STATUS_SENDING: &str = "sending";
pub const STATUS_SENT: &str = "sent";
pub const STATUS_FAILED: &str = "failed";

/// WeChat accepts messages for one minute after a scan; keep a margin for clock skew
/// and the request's own time in flight.
pub const WINDOW_MS: i64 = 55_000;
/// How long a claim holds before another instance may take the message over. Longer
/// than the HTTP client's 10 s timeout, so a live worker never loses its claim mid-send.
pub const LEASE_MS: i64 = 20_000;
/// Most messages one claim takes…
const CLAIM_BATCH: usize = 256;
/// …and fewest it waits to have room for while others are in flight, so a busy loop
/// claims in batches rather than one message per statement.
const CLAIM_MIN: usize = 32;
/// Without a wake-up, look for due retries and orphaned claims this often.
const POLL: Duration = Duration::from_millis(250);

/// Starts the claim loop. It ends once `stop` is set and the sends under way have
/// finished and their outcomes are committed.
pub fn spawn_worker(state: AppState, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(run_claimer(state, stop))
}

/// A claim token: unique, and prefixed with the instance that holds it.
pub fn new_claim_token(instance_id: &str) -> String {
    format!("{instance_id}-{:016x}", rand::random::<u64>())
}

async fn run_claimer(state: AppState, mut stop: watch::Receiver<bool>) {
    // The slots are shared with the journal, which reserves some for the messages it
    // hands over (see `handoff`).
    let slots = state.handoff.slots().clone();
    let mut handoffs = state.handoff.take_receiver();
    let mut sends = JoinSet::new();
    let mut failures = 0u32;
    while !*stop.borrow() {
        // Reap finished sends so the set does not grow with every message.
        while sends.try_join_next().is_some() {}
        while let Some(h) = handoffs.as_mut().and_then(|rx| rx.try_recv().ok()) {
            take_over(&state, &mut sends, h).await;
        }
        let free = slots.available_permits();
        if free < CLAIM_MIN.min(IN_FLIGHT) && !sends.is_empty() {
            tokio::select! {
                _ = slots.acquire_many(CLAIM_MIN as u32) => {}
                Some(h) = next_handoff(&mut handoffs) => take_over(&state, &mut sends, h).await,
                _ = stop.changed() => {}
            }
            continue;
        }
        // The slots for this claim, taken first: the journal may take some meanwhile.
        let want = free.min(CLAIM_BATCH);
        let reserved = match slots.clone().try_acquire_many_owned(want as u32) {
            Ok(reserved) if want > 0 => Some(reserved),
            _ => None,
        };
        let pause = match reserved {
            None => POLL,
            Some(mut reserved) => match claim(&state, want).await {
                Ok(Claimed::Some(claimed)) => {
                    failures = 0;
                    for d in claimed {
                        let Some(slot) = reserved.split(1) else {
                            unreachable!("a claim never exceeds the slots reserved for it")
                        };
                        start_send(&state, &mut sends, d, slot);
                    }
                    continue;
                }
                Ok(Claimed::Contended) => {
                    failures = 0;
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(Claimed::Nothing) => POLL,
                Err(e) => {
                    failures += 1;
                    tracing::error!(error = %e, "claiming messages failed");
                    backoff(failures)
                }
            },
        };
        tokio::select! {
            _ = state.outbox.notified() => {}
            Some(h) = next_handoff(&mut handoffs) => take_over(&state, &mut sends, h).await,
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {}
        }
    }
    // Stopping: no new claims. Messages already handed over are sent (the server has
    // answered its last push by now, so no more come), and the sends under way finish
    // and are recorded.
    while let Some(h) = handoffs.as_mut().and_then(|rx| rx.try_recv().ok()) {
        take_over(&state, &mut sends, h).await;
    }
    while sends.join_next().await.is_some() {}
}

/// The next hand-off, or never when this worker has no receiver.
async fn next_handoff(handoffs: &mut Option<mpsc::UnboundedReceiver<HandOff>>) -> Option<HandOff> {
    match handoffs {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Sends the messages the journal committed claimed for this worker.
async fn take_over(state: &AppState, sends: &mut JoinSet<()>, mut handoff: HandOff) {
    let claimed = match claimed_by(state, &handoff.token).await {
        Ok(claimed) => claimed,
        Err(e) => {
            // Still claimed and leased: taken over, here or elsewhere, once it runs out.
            tracing::error!(error = %e, "reading handed-over messages failed");
            return;
        }
    };
    for d in claimed {
        match handoff.slots.split(1) {
            Some(slot) => {
                Metrics::bump(&state.metrics.messages_handed_over);
                start_send(state, sends, d, slot);
            }
            None => tracing::error!(delivery = d.id, "more handed-over messages than slots"),
        }
    }
}

/// The messages claimed under `token`.
async fn claimed_by(state: &AppState, token: &str) -> Result<Vec<delivery::Model>, DbErr> {
    delivery::Entity::find()
        .filter(delivery::Column::ClaimToken.eq(token))
        .all(&state.db)
        .await
}

fn start_send(
    state: &AppState,
    sends: &mut JoinSet<()>,
    d: delivery::Model,
    slot: OwnedSemaphorePermit,
) {
    let state = state.clone();
    // Boxed: tokio copies a task's whole future when it spawns and when it finishes it,
    // and a send's is a few kilobytes (an HTTP request, cache lookups).
    sends.spawn(Box::pin(async move {
        let outcome = send(&state, &d).await;
        state.journal.outcome((d, outcome)).await;
        drop(slot);
    }));
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

/// A claim to write: the candidates that are still due when it is written become
/// `sending`, leased to `token`.
pub struct NewClaim {
    pub ids: Vec<i64>,
    pub token: String,
    pub now: i64,
}

impl NewClaim {
    /// The conditional update: of several instances claiming one message, the first
    /// to commit wins it, and the others' `due` no longer holds for it.
    pub async fn apply(&self, txn: &impl ConnectionTrait) -> Result<(), DbErr> {
        let now = self.now;
        delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value(STATUS_SENDING))
            .col_expr(delivery::Column::LeaseUntilMs, Expr::value(now + LEASE_MS))
            .col_expr(
                delivery::Column::Attempts,
                Expr::col(delivery::Column::Attempts).add(1),
            )
            .col_expr(delivery::Column::UpdatedAtMs, Expr::value(now))
            .col_expr(
                delivery::Column::ClaimToken,
                Expr::value(self.token.clone()),
            )
            .filter(delivery::Column::Id.is_in(crate::db::padded(&self.ids)))
            .filter(due(now))
            .exec(txn)
            .await
            .map(|_| ())
    }
}

enum Claimed {
    Some(Vec<delivery::Model>),
    /// Messages were due, but another instance claimed them first.
    Contended,
    Nothing,
}

/// Claims up to `limit` due messages, oldest first.
///
/// The claim is one conditional update over the candidates' ids that stamps them with
/// this call's token; reading back by token tells which ones were won, so instances
/// never send the same message, and none waits for another.
async fn claim(state: &AppState, limit: usize) -> Result<Claimed, AppError> {
    let now = now_ms();
    // Reads go to the shared pool and only the claim itself to the writer, which the
    // callback's scans wait for. Orphans first (claims whose instance died; usually
    // none), then the queue in the order it is due: two reads, because one over both
    // conditions cannot walk the index in order and sorts the whole backlog each time.
    let mut candidates: Vec<i64> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .filter(delivery::Column::Status.eq(STATUS_SENDING))
        .filter(delivery::Column::LeaseUntilMs.lt(now))
        .limit(limit as u64)
        .into_tuple()
        .all(&state.db)
        .await?;
    if candidates.len() < limit {
        let queued: Vec<i64> = delivery::Entity::find()
            .select_only()
            .column(delivery::Column::Id)
            .filter(delivery::Column::Status.eq(STATUS_PENDING))
            .filter(delivery::Column::NextAttemptAtMs.lte(now))
            .order_by_asc(delivery::Column::NextAttemptAtMs)
            .limit((limit - candidates.len()) as u64)
            .into_tuple()
            .all(&state.db)
            .await?;
        candidates.extend(queued);
    }
    if candidates.is_empty() {
        return Ok(Claimed::Nothing);
    }
    let token = new_claim_token(&state.instance_id);
    // Through the journal, so the claim shares a commit with the scans and outcomes
    // written meanwhile instead of taking the writer, and an fsync, for itself.
    state
        .journal
        .claim(NewClaim {
            ids: candidates,
            token: token.clone(),
            now,
        })
        .await?;
    // The token is new, so the rows that carry it are exactly those won.
    let claimed = claimed_by(state, &token).await?;
    Ok(if claimed.is_empty() {
        Claimed::Contended
    } else {
        Claimed::Some(claimed)
    })
}

/// One attempt; what came of it is logged when it is recorded (`outcome_rows::report`).
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
        .map_err(|e| match e {
            // The database may be back in a moment; a stored template that does not
            // compile will not be.
            AppError::Db(_) => Failure::Wechat(WechatError::Retry {
                errcode: None,
                reason: e.to_string(),
            }),
            other => Failure::Local(other.to_string()),
        })?
        .ok_or_else(|| Failure::Local("no message template".into()))?;
    let quote_url =
        links::LinkSigner::quote_url(&state.links, &state.base_url, &d.openid, order.id);
    let ctx = template::context_for(&order, &d.openid, &quote_url, &state.base_url);
    let article = tpl
        .render(&ctx)
        .map_err(|e| Failure::Local(format!("template: {e}")))?;
    state
        .wechat
        .send_news(&d.openid, &article)
        .await
        .map_err(Failure::Wechat)
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
