//! A console session: the cookie names it, and a logout (or a reset of the admin
//! token) ends it on every instance.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_sessions")]
pub struct Model {
    /// Random, 32 hex digits; the cookie carries it with an HMAC.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub expires_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
