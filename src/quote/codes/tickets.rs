//! Each order's temporary QR ticket, reused while it has life left.
//!
//! A ticket's scene id is random, above the permanent range (so a "follow us" code the
//! account made elsewhere, scene 1–100000, never shares one) and unique among live
//! tickets; never the order's id or any counter, so nothing about one code tells
//! another.
//!
//! The page of an order may be reloaded any number of times; it must cost no API call
//! while the ticket has more than a minute to live. Tickets are kept in the QR registry
//! (the database, shared by instances) and in a moka cache in front of it, whose
//! `try_get_with` also makes concurrent first requests share one `qrcode/create`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use entity::qr_code;
use moka::Expiry;
use moka::future::Cache;
use rand::Rng;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use super::CodeKind;
use super::registry::{NewCode, Registry};
use crate::db;
use crate::wechat::scene::PERMANENT_ID_MAX;
use crate::wechat::{Lifetime, Scene, WechatClient, WechatError};
use crate::{AppError, now_ms};

/// Lifetime asked for an order's code: the page's 30 minutes.
pub const ORDER_CODE_SECONDS: u32 = 1800;
/// A ticket with less than this left is replaced, so a shopper never scans a code that
/// dies in their hand.
pub const MIN_REMAINING_MS: i64 = 60_000;
/// How long one instance may take to create a code before another may try.
const CREATE_LEASE_MS: i64 = 15_000;
/// How long an instance waits for another's creation.
const CREATE_WAIT: Duration = Duration::from_secs(20);

/// A ticket that is valid for at least [`MIN_REMAINING_MS`] more.
#[derive(Debug, Clone)]
pub struct LiveTicket {
    pub ticket: String,
    pub url: String,
    pub expires_at_ms: i64,
}

impl LiveTicket {
    /// Whole seconds it still lives.
    pub fn remaining_seconds(&self) -> i64 {
        ((self.expires_at_ms - now_ms()) / 1000).max(0)
    }
}

struct UntilReplaced;

impl Expiry<i64, Arc<LiveTicket>> for UntilReplaced {
    fn expire_after_create(&self, _: &i64, t: &Arc<LiveTicket>, _: Instant) -> Option<Duration> {
        Some(Duration::from_millis(
            (t.expires_at_ms - MIN_REMAINING_MS - now_ms()).max(0) as u64,
        ))
    }
}

/// Orders' live tickets, by order id.
#[derive(Clone)]
pub struct Tickets {
    db: DatabaseConnection,
    wechat: WechatClient,
    registry: Registry,
    live: Cache<i64, Arc<LiveTicket>>,
}

impl Tickets {
    pub fn new(db: DatabaseConnection, wechat: WechatClient, registry: Registry) -> Self {
        Tickets {
            db,
            wechat,
            registry,
            live: Cache::builder()
                .max_capacity(100_000)
                .expire_after(UntilReplaced)
                .build(),
        }
    }

    /// Forgets every ticket this process holds (they are still in the registry).
    pub fn forget_all(&self) {
        self.live.invalidate_all();
    }

    /// The order's live ticket, creating one with WeChat only when none is left.
    pub async fn for_order(&self, order_id: i64) -> Result<Arc<LiveTicket>, AppError> {
        self.live
            .try_get_with(order_id, self.load_or_create(order_id))
            .await
            .map_err(|e| match &*e {
                AppError::Upstream(w) => AppError::Upstream(w.clone()),
                AppError::NotFound => AppError::NotFound,
                other => AppError::Internal(anyhow::anyhow!("loading the QR ticket: {other}")),
            })
    }

    /// Finds a live ticket in the registry, or creates one. Of several instances asked
    /// at once, the one that takes the order's lease creates it and the others wait for
    /// it, so an order never has two live codes.
    async fn load_or_create(&self, order_id: i64) -> Result<Arc<LiveTicket>, AppError> {
        let lease = format!("qrcode:order:{order_id}");
        let give_up = std::time::Instant::now() + CREATE_WAIT;
        loop {
            if let Some(live) = self.find_live(order_id).await? {
                return Ok(live);
            }
            if db::lease::take(&self.db, &lease, CREATE_LEASE_MS).await? {
                // Another instance may have created one (and released the lease) since
                // we looked; holding the lease now, what we read is final.
                let created = match self.find_live(order_id).await {
                    Ok(Some(live)) => Ok(live),
                    Ok(None) => self.create(order_id).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = db::lease::release(&self.db, &lease).await {
                    tracing::warn!(error = %e, "could not release the QR creation lease");
                }
                return created;
            }
            if std::time::Instant::now() > give_up {
                return Err(AppError::Upstream(WechatError::Retry {
                    errcode: None,
                    reason: "timed out waiting for another instance to create the QR code".into(),
                }));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn find_live(&self, order_id: i64) -> Result<Option<Arc<LiveTicket>>, AppError> {
        let stored = qr_code::Entity::find()
            .filter(qr_code::Column::Kind.eq(CodeKind::Order.as_str()))
            .filter(qr_code::Column::Target.eq(order_id.to_string()))
            .filter(qr_code::Column::ExpiresAtMs.gt(now_ms() + MIN_REMAINING_MS))
            .order_by_desc(qr_code::Column::ExpiresAtMs)
            .one(&self.db)
            .await?;
        Ok(stored.map(|code| {
            Arc::new(LiveTicket {
                ticket: code.ticket,
                url: code.url,
                expires_at_ms: code.expires_at_ms.unwrap_or_default(),
            })
        }))
    }

    /// A scene id for a new order code: random above [`PERMANENT_ID_MAX`], and not the
    /// scene of a live ticket.
    async fn fresh_scene(&self) -> Result<u32, AppError> {
        loop {
            let scene_id = rand::thread_rng().gen_range(PERMANENT_ID_MAX + 1..=u32::MAX);
            let taken = qr_code::Entity::find()
                .filter(qr_code::Column::Scene.eq(scene_id.to_string()))
                .filter(qr_code::Column::ExpiresAtMs.gt(now_ms()))
                .one(&self.db)
                .await?;
            if taken.is_none() {
                return Ok(scene_id);
            }
        }
    }

    async fn create(&self, order_id: i64) -> Result<Arc<LiveTicket>, AppError> {
        let scene_id = self.fresh_scene().await?;
        let asked_at = now_ms();
        let created = self
            .wechat
            .create_qrcode(
                &Scene::Id(scene_id),
                Lifetime::Temporary {
                    expire_seconds: ORDER_CODE_SECONDS,
                },
            )
            .await?;
        // Count the lifetime from before the call, so we never think it lives longer
        // than it does.
        let seconds = created
            .expire_seconds
            .unwrap_or(ORDER_CODE_SECONDS)
            .min(ORDER_CODE_SECONDS);
        let expires_at_ms = asked_at + i64::from(seconds) * 1000;
        self.registry
            .register(NewCode {
                created: &created,
                kind: CodeKind::Order,
                scene: scene_id.to_string(),
                target: order_id.to_string(),
                expires_at_ms: Some(expires_at_ms),
            })
            .await?;
        Ok(Arc::new(LiveTicket {
            ticket: created.ticket,
            url: created.url,
            expires_at_ms,
        }))
    }
}
