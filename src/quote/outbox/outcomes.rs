//! Writing what the [retry policy](super::retry) decided for each send's outcome: sent,
//! rescheduled, or failed with WeChat's reason. Written by the
//! [`journal`](super::journal) the moment WeChat answers, many outcomes per
//! transaction. Recording promptly matters beyond speed: a message WeChat took but we
//! have not yet marked sent would be sent again if the process died before the mark,
//! so that gap is kept to a commit, and a few milliseconds' wait for company when an
//! outcome comes alone ([`journal`](super::journal)'s `OUTCOME_LINGER`).
//!
//! Every update is conditional on the claim token the message was sent under: had the
//! claim run out and another instance taken the message over, that instance's record
//! stands.

use std::collections::BTreeMap;

use entity::delivery;
use sea_orm::sea_query::{Expr, IntoCondition};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryTrait};

use super::enqueue::{NewEvent, insert_events};
use super::retry::{Change, Failure};
use super::status::Status;
use crate::db::Execute;
use crate::db::shaped::{Param, Shape, Site};
use crate::metrics::Metrics;
use crate::quote::webhooks::{EventType, event, rfc3339};
use crate::wechat::api::errcode_zh;

/// A delivery as claimed (its attempt number and claim token) and how its send went.
pub struct Outcome {
    pub delivery: delivery::Model,
    pub result: Result<(), Failure>,
    /// For a message, what the shop's webhook is told of how it ended (when one is set).
    pub tell_shop: Option<ShopNotice>,
}

impl Outcome {
    /// `delivery`, sent, with nothing to tell the shop of it.
    pub fn sent(delivery: delivery::Model) -> Outcome {
        Outcome {
            delivery,
            result: Ok(()),
            tell_shop: None,
        }
    }
}

/// The order a message was for, as the shop knows it.
#[derive(Debug, Clone)]
pub struct ShopNotice {
    pub external_id: Option<String>,
    pub order_token: String,
}

/// The webhook event for a message that ended as `change` (sent, or failed for good).
fn notice(d: &delivery::Model, shop: &ShopNotice, change: &Change, now: i64) -> Option<NewEvent> {
    let mut data = serde_json::json!({
        "external_id": shop.external_id,
        "order_token": shop.order_token,
        "openid": d.openid,
    });
    let kind = match change {
        Change::Sent => {
            data["sent_at"] = rfc3339(now).into();
            EventType::MessageSent
        }
        Change::Fail {
            errcode, errmsg, ..
        } => {
            data["errcode"] = (*errcode).into();
            data["reason"] = errcode
                .and_then(|c| errcode_zh(i64::from(c)))
                .map(str::to_owned)
                .unwrap_or_else(|| errmsg.clone())
                .into();
            data["failed_at"] = rfc3339(now).into();
            EventType::MessageFailed
        }
        Change::Unknown { errmsg } => {
            data["reason"] = errmsg.clone().into();
            data["unknown_at"] = rfc3339(now).into();
            EventType::MessageUnknown
        }
        Change::Retry { .. } => return None,
    };
    Some(NewEvent {
        openid: d.openid.clone(),
        order_id: d.order_id,
        payload: event(kind, now, data),
    })
}

/// Where the sent messages' updates are made ([`Execute::queue_shaped`]): one shape for
/// each length of the runs of ids.
static MARK_SENT: Site = Site("mark_sent");

/// Applies `changes` (one per outcome) inside `txn`.
pub async fn apply(
    txn: &impl Execute,
    batch: &[Outcome],
    changes: &[Change],
    now: i64,
) -> Result<(), DbErr> {
    // Sent messages are the bulk: one update per claim covers all of that claim's. A
    // message the shop is told of is updated alone, and the event queued only if the
    // update applied (had its claim been taken over, the other instance tells).
    let mut sent: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut events = Vec::new();
    for (outcome, change) in batch.iter().zip(changes) {
        let d = &outcome.delivery;
        let token = d.claim_token.as_deref().unwrap_or_default();
        if let Some(shop) = &outcome.tell_shop
            && let Some(event) = notice(d, shop, change, now)
        {
            let update = match change {
                Change::Sent => mark_sent(ours(token, delivery::Column::Id.eq(d.id)), now),
                Change::Fail {
                    errcode, errmsg, ..
                } => unsent(token, d.id, Status::Failed, *errcode, errmsg, now),
                Change::Unknown { errmsg } => {
                    unsent(token, d.id, Status::Unknown, None, errmsg, now)
                }
                Change::Retry { .. } => unreachable!("no notice for a retry"),
            };
            if txn.run(&update.into_query()).await? == 1 {
                events.push(event);
            }
            continue;
        }
        match change {
            Change::Sent => sent.entry(token).or_default().push(d.id),
            Change::Retry {
                at_ms,
                errcode,
                errmsg,
            } => {
                let update = unsent(token, d.id, Status::Pending, *errcode, errmsg, now)
                    .col_expr(delivery::Column::NextAttemptAtMs, Expr::value(*at_ms));
                txn.queue(&update.into_query()).await?;
            }
            Change::Fail {
                errcode, errmsg, ..
            } => {
                txn.queue(&unsent(token, d.id, Status::Failed, *errcode, errmsg, now).into_query())
                    .await?;
            }
            Change::Unknown { errmsg } => {
                txn.queue(&unsent(token, d.id, Status::Unknown, None, errmsg, now).into_query())
                    .await?;
            }
        }
    }
    for (token, mut ids) in sent {
        // Sorted, so that a run of consecutive ids (a batch's messages) stays whole.
        ids.sort_unstable();
        for some in txn.runs(&ids) {
            // The values in the order the update writes them: its columns', the ids, the
            // token.
            let mut params = Vec::with_capacity(some.len() + 6);
            params.extend([
                Param::from(Status::Sent.as_str()),
                now.into(),
                Param::Int(None),
                Param::Text(None),
                now.into(),
            ]);
            params.extend(some.iter().map(|&id| Param::from(id)));
            params.push(token.into());
            let shape = Shape::new(&MARK_SENT, some.len());
            txn.queue_shaped(shape, &params, || {
                let which = txn.among(delivery::Column::Id, some);
                mark_sent(ours(token, which), now).into_query()
            })
            .await?;
        }
    }
    let events: Vec<&NewEvent> = events.iter().collect();
    insert_events(txn, &events, now).await
}

fn mark_sent(
    update: sea_orm::UpdateMany<delivery::Entity>,
    now: i64,
) -> sea_orm::UpdateMany<delivery::Entity> {
    update
        .col_expr(delivery::Column::Status, Expr::value(Status::Sent.as_str()))
        .col_expr(delivery::Column::SentAtMs, Expr::value(now))
        .col_expr(delivery::Column::Errcode, Expr::value(Option::<i32>::None))
        .col_expr(
            delivery::Column::Errmsg,
            Expr::value(Option::<String>::None),
        )
        .col_expr(delivery::Column::UpdatedAtMs, Expr::value(now))
}

/// Message `id`, not sent this time: its new status and why.
fn unsent(
    token: &str,
    id: i64,
    status: Status,
    errcode: Option<i32>,
    errmsg: &str,
    now: i64,
) -> sea_orm::UpdateMany<delivery::Entity> {
    ours(token, delivery::Column::Id.eq(id))
        .col_expr(delivery::Column::Status, Expr::value(status.as_str()))
        .col_expr(delivery::Column::Errcode, Expr::value(errcode))
        .col_expr(
            delivery::Column::Errmsg,
            Expr::value(Some(errmsg.to_owned())),
        )
        .col_expr(delivery::Column::UpdatedAtMs, Expr::value(now))
}

/// An update of the messages `which` picks that applies only while they are still
/// claimed with `token`.
fn ours(token: &str, which: impl IntoCondition) -> sea_orm::UpdateMany<delivery::Entity> {
    delivery::Entity::update_many()
        .filter(which)
        .filter(delivery::Column::ClaimToken.eq(token))
}

/// Metrics and logs, once the outcomes are committed (a retried transaction counts once).
pub fn report(metrics: &Metrics, batch: &[Outcome], changes: &[Change]) {
    for (outcome, change) in batch.iter().zip(changes) {
        let d = &outcome.delivery;
        let attempt = d.attempts;
        if d.kind == super::Kind::Webhook.as_str() {
            report_webhook(metrics, d, change);
            continue;
        }
        let (errcode, errmsg, what) = match change {
            Change::Sent => {
                Metrics::bump(&metrics.messages_sent);
                tracing::info!(delivery = d.id, order = d.order_id, attempt, "message sent");
                continue;
            }
            Change::Retry {
                errcode, errmsg, ..
            } => {
                Metrics::bump(&metrics.messages_retried);
                (errcode, errmsg, "send failed, will retry")
            }
            Change::Fail {
                errcode,
                errmsg,
                reason,
            } => {
                metrics.failed(reason);
                (errcode, errmsg, "send failed for good")
            }
            Change::Unknown { errmsg } => {
                Metrics::bump(&metrics.messages_unknown);
                (
                    &None,
                    errmsg,
                    "outcome unknown: left for the owner to resend",
                )
            }
        };
        tracing::warn!(
            delivery = d.id,
            order = d.order_id,
            attempt,
            errcode,
            errmsg,
            "{what}"
        );
    }
}

/// A webhook event's outcome: counted apart from messages.
fn report_webhook(metrics: &Metrics, d: &delivery::Model, change: &Change) {
    let attempt = d.attempts;
    match change {
        Change::Sent => {
            Metrics::bump(&metrics.webhooks_sent);
            tracing::info!(delivery = d.id, attempt, "webhook event delivered");
        }
        Change::Retry { errmsg, .. } => {
            tracing::warn!(
                delivery = d.id,
                attempt,
                errmsg,
                "webhook event not taken, will retry"
            )
        }
        Change::Fail { errmsg, .. } | Change::Unknown { errmsg } => {
            Metrics::bump(&metrics.webhooks_failed);
            tracing::warn!(
                delivery = d.id,
                attempt,
                errmsg,
                "webhook event given up on"
            );
        }
    }
}
