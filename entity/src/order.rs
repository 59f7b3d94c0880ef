//! A quote the shop made for a visitor. Public pages reach it by `token` only, never by
//! its id; the shop's server by its own `external_id`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Opaque and unguessable (192 random bits): what every public address carries.
    #[sea_orm(unique)]
    pub token: Option<String>,
    /// The site key the shop's server created it with; `None` for the demo shop.
    pub site_key_id: Option<i64>,
    /// The shop's own reference, unique per site key.
    pub external_id: Option<String>,
    /// The quote's fields as JSON: `[{name, label, type, value}]`, the schema in force
    /// when the order was made, with each value as exact text.
    #[sea_orm(column_type = "Text", nullable)]
    pub fields: Option<String>,
    /// Optional line items as JSON: `[{name, quantity, unit_price, amount}]`.
    #[sea_orm(column_type = "Text", nullable)]
    pub items: Option<String>,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
