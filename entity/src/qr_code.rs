//! The registry of every QR code the service asked WeChat for. A push is resolved by its
//! `Ticket` against this table first, so codes of different kinds that share a scene
//! number never collide.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "qr_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// WeChat's ticket; unique per code.
    #[sea_orm(unique)]
    pub ticket: String,
    /// What the code encodes (`http://weixin.qq.com/q/…`).
    pub url: String,
    /// `order`, `promoter` or `reply`.
    pub kind: String,
    /// The scene as WeChat sees it: a scene id in decimal, or a scene string.
    pub scene: String,
    /// What the code points to within its kind (an order id for `order`).
    pub target: String,
    /// `None` for permanent codes.
    pub expires_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
