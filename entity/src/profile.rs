//! What WeChat told us about a user, kept so the quote page does not ask again.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "profiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub openid: String,
    /// WeChat stopped returning nickname and avatar from `user/info` in 2021; they are
    /// `None` unless web authorization supplied them.
    pub nickname: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub headimgurl: Option<String>,
    pub subscribed: bool,
    pub fetched_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
