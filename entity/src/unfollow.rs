//! A user who stopped following the account (`unsubscribe`), once per push.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "unfollows")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The push's identity: WeChat's retries of it are one unfollow.
    #[sea_orm(unique)]
    pub event_identity: String,
    pub openid: String,
    pub at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
