//! A quote shown to an anonymous visitor. Its id doubles as the temporary QR scene id,
//! so it must stay within 1..=u32::MAX (checked when the order is created).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Our price, in fen.
    pub total_cents: i64,
    /// What the visitor saves against the market price, in fen.
    pub saved_cents: i64,
    /// Room (usable) area in hundredths of a square metre.
    pub room_area_centi: i64,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
