//! One QR scan pushed by WeChat (a `subscribe` with a scene, or a `SCAN`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scans")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The push's identity (openid, CreateTime, event). WeChat retries a push with the
    /// same values, so the unique index turns every retry into a no-op.
    #[sea_orm(unique)]
    pub event_identity: String,
    pub openid: String,
    /// `subscribe` or `SCAN`.
    pub event: String,
    /// The scene as carried by the push (EventKey without its `qrscene_` prefix).
    pub scene: String,
    pub ticket: Option<String>,
    /// The registry entry the ticket matched, if any.
    pub qr_code_id: Option<i64>,
    /// The order the scene resolved to, if it resolved to one.
    pub order_id: Option<i64>,
    /// WeChat's CreateTime, in seconds.
    pub event_time: i64,
    pub received_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
