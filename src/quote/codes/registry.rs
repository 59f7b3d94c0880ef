//! The QR registry: every code made, by ticket. Every scan push carries its ticket, so
//! [`Registry::find`] is on the callback's path; a registry row never changes once
//! written, so what was found is kept. What was not found is not: a code made a moment
//! ago on another instance must be found on the next push.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use entity::qr_code;
use moka::future::Cache;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::CodeKind;
use crate::db::errors::is_duplicate;
use crate::quote::orders::Order;
use crate::wechat::qrcode::QrTicket;
use crate::{AppError, now_ms};

/// What a push needs of a registered code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub id: i64,
    /// `None`: a kind a newer build made, which this one does not know.
    pub kind: Option<CodeKind>,
    pub target: String,
    /// The order an order code points at, once a scan has read it (see [`Self::order`]).
    order: OnceLock<Arc<Order>>,
}

impl Registered {
    fn new(id: i64, kind: &str, target: String) -> Self {
        Registered {
            id,
            kind: CodeKind::parse(kind),
            target,
            order: OnceLock::new(),
        }
    }

    /// The order this code points at: read with `read` the first time, then kept with
    /// the code, since neither where a code points nor an order ever changes. A
    /// campaign's scans of one code then read its order once, not once a scan (each
    /// read of the orders' cache cost about as much as the registry's own). An order
    /// not found is not kept, and is looked for again on the next scan. Kept at most as
    /// long as the code is, by at most the registry's 50,000 codes: fewer than the
    /// orders' own cache holds.
    pub async fn order<F, Fut>(&self, read: F) -> Result<Option<Arc<Order>>, AppError>
    where
        F: FnOnce(i64) -> Fut,
        Fut: Future<Output = Result<Arc<Order>, AppError>>,
    {
        if let Some(order) = self.order.get() {
            return Ok(Some(order.clone()));
        }
        let id = match (self.kind, self.target.parse::<i64>()) {
            (Some(CodeKind::Order), Ok(id)) => id,
            _ => return Ok(None),
        };
        match read(id).await {
            Ok(order) => Ok(Some(self.order.get_or_init(|| order).clone())),
            Err(AppError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A code WeChat just made, to register.
pub struct NewCode<'a> {
    pub created: &'a QrTicket,
    pub kind: CodeKind,
    /// The scene as WeChat sees it (decimal id or string).
    pub scene: String,
    pub target: String,
    /// `None` for a permanent code.
    pub expires_at_ms: Option<i64>,
}

/// Why a lookup kept nothing: what was not found is not cached, so that a code made a
/// moment ago on another instance is found on the next push.
#[derive(Debug)]
enum Unfound {
    Missing,
    Db(sea_orm::DbErr),
}

#[derive(Clone)]
pub struct Registry {
    db: DatabaseConnection,
    /// A temporary code lives 30 minutes; a scanned one is kept as long.
    by_ticket: Cache<String, Arc<Registered>>,
}

impl Registry {
    pub fn new(db: DatabaseConnection) -> Self {
        Registry {
            db,
            by_ticket: Cache::builder()
                .max_capacity(50_000)
                .time_to_idle(Duration::from_secs(1800))
                .build(),
        }
    }

    /// The code `ticket` names, if this service made it. When it is not cached, one
    /// caller reads it and the others asking for it meanwhile wait for that read: a
    /// poster scanned by hundreds at once just after a restart costs one query, not
    /// one per scan.
    pub async fn find(&self, ticket: &str) -> Result<Option<Arc<Registered>>, AppError> {
        if let Some(found) = self.by_ticket.get(ticket).await {
            return Ok(Some(found));
        }
        let read = async {
            let row = qr_code::Entity::find()
                .filter(qr_code::Column::Ticket.eq(ticket))
                .one(&self.db)
                .await
                .map_err(Unfound::Db)?;
            let code = row.ok_or(Unfound::Missing)?;
            Ok::<_, Unfound>(Arc::new(Registered::new(code.id, &code.kind, code.target)))
        };
        match Box::pin(self.by_ticket.try_get_with_by_ref(ticket, read)).await {
            Ok(found) => Ok(Some(found)),
            Err(e) => match &*e {
                Unfound::Missing => Ok(None),
                Unfound::Db(e) => Err(e.clone().into()),
            },
        }
    }

    /// The code a push without a `Ticket` names by its scene: a live order code or a
    /// permanent code this service made with that scene. Such pushes are rare (WeChat
    /// sends the ticket with every scan of a parametric code), so this is not cached.
    pub async fn by_scene(&self, scene: &str) -> Result<Option<Arc<Registered>>, AppError> {
        let live = sea_orm::Condition::any()
            .add(qr_code::Column::ExpiresAtMs.is_null())
            .add(qr_code::Column::ExpiresAtMs.gt(now_ms()));
        let found = Box::pin(
            qr_code::Entity::find()
                .filter(qr_code::Column::Scene.eq(scene))
                .filter(live)
                .order_by_desc(qr_code::Column::Id)
                .one(&self.db),
        )
        .await?;
        Ok(found.map(|c| Arc::new(Registered::new(c.id, &c.kind, c.target))))
    }

    /// Registers a code WeChat made. WeChat answers the same scene with the same ticket
    /// (a permanent code asked for twice, say by two requests at once): that is the same
    /// code, and the row already there is returned. A ticket already registered for
    /// something else is refused rather than pointed elsewhere, since other instances
    /// may have cached where it points.
    pub async fn register(&self, code: NewCode<'_>) -> Result<qr_code::Model, AppError> {
        let inserted = qr_code::ActiveModel {
            ticket: Set(code.created.ticket.clone()),
            url: Set(code.created.url.clone()),
            kind: Set(code.kind.as_str().into()),
            scene: Set(code.scene.clone()),
            target: Set(code.target.clone()),
            expires_at_ms: Set(code.expires_at_ms),
            created_at_ms: Set(now_ms()),
            ..Default::default()
        }
        .insert(&self.db)
        .await;
        let e = match inserted {
            Ok(row) => return Ok(row),
            Err(e) if is_duplicate(&e) => e,
            Err(e) => return Err(e.into()),
        };
        let existing = qr_code::Entity::find()
            .filter(qr_code::Column::Ticket.eq(&code.created.ticket))
            .one(&self.db)
            .await?
            .ok_or(e)?;
        if existing.kind != code.kind.as_str() || existing.target != code.target {
            tracing::error!(
                ticket = code.created.ticket,
                registered = format!("{} {}", existing.kind, existing.target),
                asked = format!("{} {}", code.kind.as_str(), code.target),
                "WeChat issued a ticket already registered for another code"
            );
            return Err(AppError::Conflict(format!(
                "微信返回的二维码已登记给另一个用途（{} {}），本次未保存",
                existing.kind, existing.target
            )));
        }
        // The same code asked for again: a temporary one lives as long as its latest
        // issue says.
        match (existing.expires_at_ms, code.expires_at_ms) {
            (Some(had), Some(now)) if now > had => {
                let mut longer: qr_code::ActiveModel = existing.into();
                longer.expires_at_ms = Set(Some(now));
                Ok(longer.update(&self.db).await?)
            }
            _ => Ok(existing),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A ticket not cached yet, asked for by many scans at once: one query between
    /// them, and every one gets the code; a ticket nobody registered is looked up again
    /// each time, so a code registered meanwhile is found.
    #[tokio::test]
    async fn concurrent_first_lookups_of_a_ticket_share_one_query() {
        let mut db = crate::db::connect("sqlite::memory:").await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let reads = Arc::new(AtomicUsize::new(0));
        let counted = reads.clone();
        db.set_metric_callback(move |info| {
            if info.statement.sql.contains("FROM \"qr_codes\"") {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        let registry = Registry::new(db);
        let ticket = QrTicket {
            ticket: "gQPoster==".into(),
            url: "http://weixin.qq.com/q/poster".into(),
            expire_seconds: None,
        };
        registry
            .register(NewCode {
                created: &ticket,
                kind: CodeKind::Channel,
                scene: "poster".into(),
                target: "7".into(),
                expires_at_ms: None,
            })
            .await
            .unwrap();
        let before = reads.load(Ordering::SeqCst);
        let scans = (0..50).map(|_| registry.find("gQPoster=="));
        let found = futures_util::future::join_all(scans).await;
        assert!(
            found
                .iter()
                .all(|f| matches!(f, Ok(Some(c)) if c.target == "7")),
            "{found:?}"
        );
        assert_eq!(
            reads.load(Ordering::SeqCst) - before,
            1,
            "one query for 50 scans"
        );
        for _ in 0..2 {
            assert_eq!(registry.find("gQNobody==").await.unwrap(), None);
        }
        assert_eq!(
            reads.load(Ordering::SeqCst) - before,
            3,
            "a miss is not kept"
        );
    }

    /// An order code's order is read on its first scan and kept with the code: the
    /// next scan of the same ticket gets the same order without reading it. An order
    /// not found is read again next time; a channel code has none to read.
    #[tokio::test]
    async fn an_order_codes_order_is_read_once_and_kept_with_the_code() {
        let db = crate::db::connect("sqlite::memory:").await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let registry = Registry::new(db);
        for (ticket, kind, target) in [
            ("gQOrder==", CodeKind::Order, "41"),
            ("gQGone==", CodeKind::Order, "42"),
            ("gQChannel==", CodeKind::Channel, "43"),
        ] {
            let created = QrTicket {
                ticket: ticket.into(),
                url: format!("http://weixin.qq.com/q/{target}"),
                expire_seconds: None,
            };
            let code = NewCode {
                created: &created,
                kind,
                scene: target.into(),
                target: target.into(),
                expires_at_ms: None,
            };
            registry.register(code).await.unwrap();
        }
        let reads = AtomicUsize::new(0);
        let read = |id: i64| {
            reads.fetch_add(1, Ordering::SeqCst);
            async move {
                match id {
                    41 => Ok(Arc::new(Order::with_id(id))),
                    _ => Err(AppError::NotFound),
                }
            }
        };
        let code = registry.find("gQOrder==").await.unwrap().unwrap();
        let first = code.order(read).await.unwrap().unwrap();
        assert_eq!(first.id, 41);
        let again = registry.find("gQOrder==").await.unwrap().unwrap();
        let second = again.order(read).await.unwrap().unwrap();
        assert!(
            Arc::ptr_eq(&first, &second),
            "the order kept, not read again"
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1);

        let gone = registry.find("gQGone==").await.unwrap().unwrap();
        for _ in 0..2 {
            assert_eq!(gone.order(read).await.unwrap(), None);
        }
        assert_eq!(
            reads.load(Ordering::SeqCst),
            3,
            "a missing order is not kept"
        );

        let channel = registry.find("gQChannel==").await.unwrap().unwrap();
        assert_eq!(channel.order(read).await.unwrap(), None);
        assert_eq!(
            reads.load(Ordering::SeqCst),
            3,
            "a channel code has no order"
        );
    }
}
