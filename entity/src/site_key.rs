//! A key a shop's server creates orders with. Only its SHA-256 is kept; the key itself
//! is shown once, when it is made.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "site_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What the owner called it ("官网").
    pub name: String,
    #[sea_orm(unique)]
    pub key_sha256: String,
    pub created_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
    /// Set when revoked: the key is refused from then on, on every instance.
    pub revoked_at_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
