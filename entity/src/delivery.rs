//! The outbox: one thing to send, durably: a customer-service message for a scan, or an
//! event for the shop's webhook.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `message` (a news card to the shopper) or `webhook` (an event to the shop).
    pub kind: String,
    /// The scan it came from, if it came from one.
    pub scan_id: Option<i64>,
    /// Whom a message goes to (a webhook event's shopper, for the console).
    pub openid: String,
    pub order_id: Option<i64>,
    /// What a webhook event carries, as the JSON body it is sent with.
    #[sea_orm(column_type = "Text", nullable)]
    pub payload: Option<String>,
    /// `pending` → `sending` (claimed, lease running) → `sent` | `failed`.
    pub status: String,
    pub attempts: i32,
    /// A pending message is not tried before this.
    pub next_attempt_at_ms: i64,
    /// While `sending`, the claim is valid until this; after it another worker may take
    /// the message over (the claimant died).
    pub lease_until_ms: i64,
    /// Past this it is failed instead of retried: for a message, the minute after the
    /// scan in which WeChat accepts it (45015 after); for a webhook event, a day.
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
