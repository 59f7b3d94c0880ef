//! A scene-keyed automatic reply: a scan of the code carrying `scene` is answered with
//! `text` as a passive reply.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scene_replies")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The scene string the code carries (1–64 characters), unique.
    #[sea_orm(unique)]
    pub scene: String,
    #[sea_orm(column_type = "Text")]
    pub text: String,
    /// The permanent code created for this reply.
    pub qr_code_id: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
