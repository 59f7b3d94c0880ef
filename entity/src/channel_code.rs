//! A channel code (渠道码): a named QR code with a validity, what a scan of it does (a
//! reply, a welcome for new followers, a tag) and its numbers, which come from the
//! scans of its QR code (`qr_code_id`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// The name while the code is not deleted (unique); `None` once deleted.
    #[sea_orm(unique)]
    pub live_name: Option<String>,
    pub group_name: Option<String>,
    pub note: Option<String>,
    pub permanent: bool,
    /// `None` for a permanent code.
    pub expires_at_ms: Option<i64>,
    /// A disabled code's scans are recorded, and nothing is sent.
    pub enabled: bool,
    pub deleted_at_ms: Option<i64>,
    /// JSON `{"text": …}` or `{"news": {title, description, url, pic_url}}`.
    #[sea_orm(column_type = "Text", nullable)]
    pub reply: Option<String>,
    /// The same shape, for new followers only.
    #[sea_orm(column_type = "Text", nullable)]
    pub welcome: Option<String>,
    /// The WeChat tag a scanner gets.
    pub tag: Option<String>,
    pub qr_code_id: i64,
    pub scene: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
