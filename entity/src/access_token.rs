//! The account's access token, shared by every instance through the database.
use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub app_id: String,
    /// Empty until the first fetch, and after the token was found invalid.
    pub token: String,
    /// When WeChat said the token stops working.
    pub expires_at_ms: i64,
    /// An instance that is fetching a new token holds this lease; the others wait for it
    /// instead of fetching too (each fetch would cost quota).
    pub refresh_lease_until_ms: i64,
}

// The token is a secret: never print it.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("access_token::Model")
            .field("app_id", &self.app_id)
            .field("token", &"[redacted]")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
