//! Orders: the quote the shop made for a visitor. The shop's server sends it with its
//! site key, its own reference and the fields its schema defines ([`schema`], read by
//! [`input`], each value by its type in [`values`]); it is stored with an opaque
//! token, the only handle any public page or code has on it, and cached for the scans
//! and sends that follow. [`view`] is how the API, the pages and the card see it.

pub mod input;
pub mod schema;
pub mod values;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::order;
use moka::future::Cache;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::{AppError, db, now_ms};
pub use input::{FieldValue, NewOrder};
pub use values::Item;

/// An order as the domain uses it: its fields and items read back from storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: i64,
    pub token: String,
    pub site_key_id: Option<i64>,
    pub external_id: Option<String>,
    pub fields: Vec<FieldValue>,
    pub items: Vec<Item>,
    pub created_at_ms: i64,
}

impl Order {
    fn from_row(row: order::Model) -> Result<Order, AppError> {
        let bad = |what: &str, e: serde_json::Error| {
            AppError::Internal(anyhow::anyhow!("order {}: stored {what}: {e}", row.id))
        };
        let fields = match &row.fields {
            Some(json) => serde_json::from_str(json).map_err(|e| bad("fields", e))?,
            None => Vec::new(),
        };
        let items = match &row.items {
            Some(json) => serde_json::from_str(json).map_err(|e| bad("items", e))?,
            None => Vec::new(),
        };
        Ok(Order {
            id: row.id,
            token: row.token.unwrap_or_default(),
            site_key_id: row.site_key_id,
            external_id: row.external_id,
            fields,
            items,
            created_at_ms: row.created_at_ms,
        })
    }

    /// An order with only an id (token `t{id}`), for tests that pass orders around
    /// without reading them.
    #[cfg(test)]
    pub fn with_id(id: i64) -> Order {
        Order {
            id,
            token: format!("t{id}"),
            site_key_id: None,
            external_id: None,
            fields: Vec::new(),
            items: Vec::new(),
            created_at_ms: 0,
        }
    }

    /// The field called `name`, if the order has it.
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Whether `new` asks for exactly this order (a shop retrying its create).
    fn is_same_as(&self, new: &NewOrder) -> bool {
        self.fields == new.fields && self.items == new.items
    }
}

/// A token: 24 random bytes, base64url (192 bits, 32 characters).
fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>())
}

/// Whether `text` could be a token at all: what a public address is checked against
/// before any query.
pub fn looks_like_token(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The orders, stored, and as this process has seen them lately. Orders are immutable,
/// so a cached one is never stale; an order unused for an hour (its code lives 30
/// minutes, its message a minute after the scan) makes room, so the cache holds the
/// campaign under way and not every order since the start.
#[derive(Clone)]
pub struct Orders {
    db: DatabaseConnection,
    cache: Cache<i64, Arc<Order>>,
    /// Order ids by token, for the public addresses a shopper's page loads in turn.
    ids: Cache<String, i64>,
}

/// What a create did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    /// The site key had an order with this `external_id` and these contents already.
    Existing,
}

impl Orders {
    pub fn new(db: DatabaseConnection) -> Self {
        Orders {
            db,
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            ids: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        }
    }

    async fn remember(&self, order: &Arc<Order>) {
        self.cache.insert(order.id, order.clone()).await;
        self.ids.insert(order.token.clone(), order.id).await;
    }

    /// Stores an order for `site_key` (`None`: the demo shop). A second create with the
    /// same `external_id` returns the first order when it asks for the same contents
    /// (shops retry) and is a conflict when it asks for others. The stored order goes
    /// into the cache: its code is asked for and scanned within the next minutes.
    pub async fn create(
        &self,
        site_key: Option<i64>,
        new: NewOrder,
    ) -> Result<(Arc<Order>, Created), AppError> {
        if let Some(existing) = self.existing(site_key, &new).await? {
            return Ok((existing, Created::Existing));
        }
        let row = order::ActiveModel {
            token: Set(Some(new_token())),
            site_key_id: Set(site_key),
            external_id: Set(new.external_id.clone()),
            fields: Set(Some(
                serde_json::to_string(&new.fields).expect("fields serialize"),
            )),
            items: Set((!new.items.is_empty())
                .then(|| serde_json::to_string(&new.items).expect("items serialize"))),
            created_at_ms: Set(now_ms()),
            ..Default::default()
        };
        let stored = match row.insert(&self.db).await {
            Ok(stored) => stored,
            // Another request with the same reference won the race.
            Err(e) if db::is_duplicate(&e) => {
                return match self.existing(site_key, &new).await? {
                    Some(existing) => Ok((existing, Created::Existing)),
                    None => Err(e.into()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        let order = Arc::new(Order::from_row(stored)?);
        self.remember(&order).await;
        Ok((order, Created::New))
    }

    /// The order the key made with this reference, if it asks for the same contents.
    async fn existing(
        &self,
        site_key: Option<i64>,
        new: &NewOrder,
    ) -> Result<Option<Arc<Order>>, AppError> {
        let (Some(key), Some(external_id)) = (site_key, &new.external_id) else {
            return Ok(None);
        };
        let Some(row) = order::Entity::find()
            .filter(order::Column::SiteKeyId.eq(key))
            .filter(order::Column::ExternalId.eq(external_id.as_str()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let existing = Order::from_row(row)?;
        if !existing.is_same_as(new) {
            return Err(AppError::Conflict(format!(
                "external_id「{external_id}」已用于另一份内容不同的报价：同一订单请原样重发，新订单请换一个 external_id"
            )));
        }
        Ok(Some(Arc::new(existing)))
    }

    /// The stored order, read from the database.
    pub async fn find(&self, id: i64) -> Result<Order, AppError> {
        let row = order::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound)?;
        Order::from_row(row)
    }

    /// The order a public address names by its token.
    pub async fn by_token(&self, token: &str) -> Result<Arc<Order>, AppError> {
        if !looks_like_token(token) {
            return Err(AppError::NotFound);
        }
        if let Some(id) = self.ids.get(token).await {
            return self.cached(id).await;
        }
        let row = order::Entity::find()
            .filter(order::Column::Token.eq(token))
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound)?;
        let order = Arc::new(Order::from_row(row)?);
        self.remember(&order).await;
        Ok(order)
    }

    /// One of the key's own orders, by the shop's reference or by its token; never
    /// another key's.
    pub async fn of_site_key(&self, key: i64, reference: &str) -> Result<Arc<Order>, AppError> {
        let by_reference = order::Entity::find()
            .filter(order::Column::SiteKeyId.eq(key))
            .filter(order::Column::ExternalId.eq(reference))
            .one(&self.db)
            .await?;
        let row = match by_reference {
            Some(row) => row,
            None if looks_like_token(reference) => order::Entity::find()
                .filter(order::Column::SiteKeyId.eq(key))
                .filter(order::Column::Token.eq(reference))
                .one(&self.db)
                .await?
                .ok_or(AppError::NotFound)?,
            None => return Err(AppError::NotFound),
        };
        Ok(Arc::new(Order::from_row(row)?))
    }

    /// [`Self::find`] through the cache: what the scan and send paths use.
    pub async fn cached(&self, id: i64) -> Result<Arc<Order>, AppError> {
        if let Some(order) = self.cache.get(&id).await {
            return Ok(order);
        }
        let order = Arc::new(Box::pin(self.find(id)).await?);
        self.cache.insert(id, order.clone()).await;
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_recognised() {
        let a = new_token();
        assert_eq!(a.len(), 32);
        assert!(looks_like_token(&a));
        assert_ne!(a, new_token());
        assert!(!looks_like_token("42"));
        assert!(!looks_like_token(&"a".repeat(33)));
        assert!(!looks_like_token(&format!("{}/", &a[..31])));
    }
}
