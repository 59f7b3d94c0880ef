//! On SQLite, each order's latest message (a delivery of kind `message`): what the
//! shop's page shows of the order. Written by the journal with the messages, in the
//! same transaction. MySQL/MariaDB have no such table: there an index on
//! `deliveries.order_id` finds it (migration `order_messages` says why).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "order_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub order_id: i64,
    /// The highest id of the order's messages.
    pub delivery_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
