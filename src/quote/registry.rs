//! The QR registry as a push sees it: which code a `Ticket` belongs to. Every scan push
//! carries its ticket, so this is read on the callback's path; a registry row never
//! changes once written, so what was found is kept. What was not found is not: a code
//! made a moment ago on another instance must be found on the next push.

use std::sync::Arc;
use std::time::Duration;

use entity::qr_code;
use moka::future::Cache;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::AppError;

/// What a push needs of a registered code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub id: i64,
    pub kind: String,
    pub target: String,
}

pub type RegistryCache = Cache<String, Arc<Registered>>;

pub fn new_cache() -> RegistryCache {
    Cache::builder()
        .max_capacity(50_000)
        // A temporary code lives 30 minutes; keep a scanned one for as long.
        .time_to_idle(Duration::from_secs(1800))
        .build()
}

pub async fn find(
    db: &DatabaseConnection,
    cache: &RegistryCache,
    ticket: &str,
) -> Result<Option<Arc<Registered>>, AppError> {
    if let Some(found) = cache.get(ticket).await {
        return Ok(Some(found));
    }
    // Boxed, so the query's large future is not part of every push's (see `crate::db`).
    let found = Box::pin(
        qr_code::Entity::find()
            .filter(qr_code::Column::Ticket.eq(ticket))
            .one(db),
    )
    .await?
    .map(|c| {
        Arc::new(Registered {
            id: c.id,
            kind: c.kind,
            target: c.target,
        })
    });
    if let Some(found) = &found {
        cache.insert(ticket.to_owned(), found.clone()).await;
    }
    Ok(found)
}
