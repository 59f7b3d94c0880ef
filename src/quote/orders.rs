//! Orders: the quote a visitor wants to keep, read exactly from what the shop sends,
//! stored, and cached for the scans and sends that follow.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use entity::order;
use moka::future::Cache;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set, TransactionTrait};
use serde::Serialize;
use serde_json::value::RawValue;

use super::money::{self, AmountError, format_fixed, format_plain, parse_hundredths};
use crate::{AppError, now_ms};

/// A validated order, not yet stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub total_cents: i64,
    pub saved_cents: i64,
    pub room_area_centi: i64,
}

/// A field as a client sent it: JSON numbers keep their exact text (never an f64), and
/// strings carry decimal text.
pub enum FieldText<'a> {
    Json(&'a RawValue),
    Text(&'a str),
}

/// Why an order was refused, and which field (`None`: the body as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct OrderInputError {
    pub field: Option<&'static str>,
    pub problem: InputProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputProblem {
    #[error("body must be a JSON object: {0}")]
    NotJson(String),
    #[error("is required")]
    Required,
    #[error("{0}")]
    Amount(#[from] AmountError),
    #[error("must be greater than zero")]
    NotPositive,
}

impl InputProblem {
    /// What a person reads (the page's forms).
    pub fn zh(&self) -> &str {
        match self {
            InputProblem::NotJson(_) => "请求体必须是 JSON 对象",
            InputProblem::Required => "不能为空",
            InputProblem::Amount(e) => e.zh(),
            InputProblem::NotPositive => "必须大于零",
        }
    }
}

impl From<OrderInputError> for AppError {
    fn from(e: OrderInputError) -> Self {
        AppError::BadRequest {
            field: e.field,
            reason: e.problem.to_string(),
        }
    }
}

fn refuse(field: &'static str, problem: InputProblem) -> OrderInputError {
    OrderInputError {
        field: Some(field),
        problem,
    }
}

#[derive(serde::Deserialize)]
struct OrderBody<'a> {
    #[serde(borrow)]
    total_money: Option<&'a RawValue>,
    #[serde(borrow)]
    saved_money: Option<&'a RawValue>,
    #[serde(borrow)]
    room_area: Option<&'a RawValue>,
}

impl NewOrder {
    /// Reads `{"total_money", "saved_money", "room_area"}` from a JSON body.
    pub fn from_json(body: &[u8]) -> Result<Self, OrderInputError> {
        let body: OrderBody = serde_json::from_slice(body).map_err(|e| OrderInputError {
            field: None,
            problem: InputProblem::NotJson(e.to_string()),
        })?;
        Self::from_fields(
            body.total_money.map(FieldText::Json),
            body.saved_money.map(FieldText::Json),
            body.room_area.map(FieldText::Json),
        )
    }

    pub fn from_fields(
        total_money: Option<FieldText>,
        saved_money: Option<FieldText>,
        room_area: Option<FieldText>,
    ) -> Result<Self, OrderInputError> {
        let total_cents = amount("total_money", total_money)?;
        let saved_cents = amount("saved_money", saved_money)?;
        let room_area_centi = amount("room_area", room_area)?;
        if room_area_centi == 0 {
            return Err(refuse("room_area", InputProblem::NotPositive));
        }
        Ok(NewOrder {
            total_cents,
            saved_cents,
            room_area_centi,
        })
    }
}

fn amount(field: &'static str, value: Option<FieldText>) -> Result<i64, OrderInputError> {
    let not_a_number = || refuse(field, AmountError::NotANumber.into());
    let text = match value {
        None => return Err(refuse(field, InputProblem::Required)),
        Some(FieldText::Text(t)) => t.to_owned(),
        Some(FieldText::Json(raw)) => {
            let raw = raw.get().trim();
            if raw.starts_with('"') {
                serde_json::from_str::<String>(raw).map_err(|_| not_a_number())?
            } else if raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
                raw.to_owned()
            } else if raw == "null" {
                return Err(refuse(field, InputProblem::Required));
            } else {
                return Err(not_a_number());
            }
        }
    };
    parse_hundredths(&text).map_err(|e| refuse(field, e.into()))
}

/// The orders, stored, and as this process has seen them lately. Orders are immutable,
/// so a cached one is never stale; an order unused for an hour (its code lives 30
/// minutes, its message a minute after the scan) makes room, so the cache holds the
/// campaign under way and not every order since the start.
#[derive(Clone)]
pub struct Orders {
    db: DatabaseConnection,
    cache: Cache<i64, Arc<order::Model>>,
}

impl Orders {
    pub fn new(db: DatabaseConnection) -> Self {
        Orders {
            db,
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        }
    }

    /// Stores an order. Its id becomes the temporary QR scene id, which WeChat limits
    /// to 32 bits: an id past that is refused and rolled back rather than stored
    /// unusable. The stored order goes into the cache: its code is asked for and
    /// scanned within the next minutes, and each would otherwise read it back.
    pub async fn create(&self, new: NewOrder) -> Result<order::Model, AppError> {
        let txn = self.db.begin().await?;
        let stored = order::ActiveModel {
            total_cents: Set(new.total_cents),
            saved_cents: Set(new.saved_cents),
            room_area_centi: Set(new.room_area_centi),
            created_at_ms: Set(now_ms()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        if u32::try_from(stored.id).is_err() {
            txn.rollback().await?;
            return Err(AppError::Internal(anyhow::anyhow!(
                "order id {} is beyond WeChat's 32-bit scene ids",
                stored.id
            )));
        }
        txn.commit().await?;
        self.cache.insert(stored.id, Arc::new(stored.clone())).await;
        Ok(stored)
    }

    /// The stored order, read from the database.
    pub async fn find(&self, id: i64) -> Result<order::Model, AppError> {
        order::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound)
    }

    /// [`Self::find`] through the cache: what the scan and send paths use.
    pub async fn cached(&self, id: i64) -> Result<Arc<order::Model>, AppError> {
        if let Some(order) = self.cache.get(&id).await {
            return Ok(order);
        }
        let order = Arc::new(Box::pin(self.find(id)).await?);
        self.cache.insert(id, order.clone()).await;
        Ok(order)
    }
}

/// Parses an order id from a path; anything that cannot be one is simply not found.
pub fn parse_order_id(text: &str) -> Result<i64, AppError> {
    text.parse::<u32>()
        .ok()
        .filter(|id| *id > 0)
        .map(i64::from)
        .ok_or(AppError::NotFound)
}

/// An order as the API and the templates show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    pub id: i64,
    /// Our price, yuan, two decimals.
    pub total_money: String,
    pub saved_money: String,
    /// What the market charges: our price plus the saving.
    pub market_money: String,
    /// m², two decimals.
    pub room_area: String,
    /// Building area: room area × 1.25, whole square metres.
    pub building_area: i64,
    pub created_at: String,
}

impl OrderView {
    pub fn of(order: &order::Model) -> Self {
        OrderView {
            id: order.id,
            total_money: format_fixed(order.total_cents),
            saved_money: format_fixed(order.saved_cents),
            market_money: format_fixed(market_cents(order)),
            room_area: format_fixed(order.room_area_centi),
            building_area: building_area(order),
            created_at: Utc
                .timestamp_millis_opt(order.created_at_ms)
                .single()
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
        }
    }
}

pub fn market_cents(order: &order::Model) -> i64 {
    order.total_cents + order.saved_cents
}

/// Room area × 1.25, rounded to whole m² (in hundredths: × 125 / 100).
pub fn building_area(order: &order::Model) -> i64 {
    money::round_to_whole(order.room_area_centi * 125 / 100)
}

/// Figures for people: `"1280"` rather than `"1280.00"`.
pub fn plain(hundredths: i64) -> String {
    format_plain(hundredths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(total: i64, saved: i64, area: i64) -> order::Model {
        order::Model {
            id: 1,
            total_cents: total,
            saved_cents: saved,
            room_area_centi: area,
            created_at_ms: 0,
        }
    }

    #[test]
    fn building_area_is_room_area_times_one_and_a_quarter() {
        assert_eq!(building_area(&order(0, 0, 8_000)), 100);
        assert_eq!(building_area(&order(0, 0, 8_850)), 111); // 110.625 → 111
        assert_eq!(building_area(&order(0, 0, 8_820)), 110); // 110.25 → 110
    }

    #[test]
    fn fields_name_themselves_when_wrong() {
        let err = |body: &str| match NewOrder::from_json(body.as_bytes()) {
            Err(e) => (e.field, e.problem.to_string()),
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(
            err(r#"{"saved_money":1,"room_area":1}"#).0,
            Some("total_money")
        );
        assert_eq!(
            err(r#"{"total_money":-1,"saved_money":1,"room_area":1}"#),
            (Some("total_money"), "must not be negative".into())
        );
        assert_eq!(
            err(r#"{"total_money":1,"saved_money":"abc","room_area":1}"#).0,
            Some("saved_money")
        );
        assert_eq!(
            err(r#"{"total_money":1,"saved_money":1,"room_area":true}"#).0,
            Some("room_area")
        );
        assert_eq!(
            err(r#"{"total_money":1,"saved_money":1,"room_area":0}"#).0,
            Some("room_area")
        );
        assert_eq!(
            err(r#"{"total_money":null,"saved_money":1,"room_area":1}"#).0,
            Some("total_money")
        );
        assert_eq!(err(r#"[1,2]"#).0, None);
        assert_eq!(err(r#"{"#).0, None);
    }

    #[test]
    fn numbers_and_strings_are_read_exactly() {
        let o = NewOrder::from_json(
            br#"{"total_money":12800.10,"saved_money":"3200.5","room_area":88.5}"#,
        )
        .unwrap();
        assert_eq!(
            o,
            NewOrder {
                total_cents: 1_280_010,
                saved_cents: 320_050,
                room_area_centi: 8_850
            }
        );
    }
}
