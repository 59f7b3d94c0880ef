//! Versions of the message template. The newest row is in force; older rows are kept so
//! a site owner can go back.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "templates")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    #[sea_orm(column_type = "Text")]
    pub pic_url: String,
    #[sea_orm(column_type = "Text")]
    pub link: String,
    pub created_at_ms: i64,
    /// How this version came to be: `saved`, `restored:<id>`, or `default` (`None` for
    /// versions older than the column).
    pub origin: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
