//! The outbox: one customer-service message to send for one scan.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// At most one message per scan, enforced by the database.
    #[sea_orm(unique)]
    pub scan_id: i64,
    pub openid: String,
    pub order_id: i64,
    /// `pending` → `sending` (claimed, lease running) → `sent` | `failed`.
    pub status: String,
    pub attempts: i32,
    /// A pending message is not tried before this.
    pub next_attempt_at_ms: i64,
    /// While `sending`, the claim is valid until this; after it another worker may take
    /// the message over (the claimant died).
    pub lease_until_ms: i64,
    /// WeChat refuses messages more than a minute after the scan (45015): past this the
    /// message is failed instead of retried.
    pub deadline_at_ms: i64,
    pub errcode: Option<i32>,
    pub errmsg: Option<String>,
    pub sent_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Who claimed the message last: the claiming worker's token, prefixed with its
    /// instance's id.
    pub claim_token: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
