//! The signature of each plaintext scan push lately taken, with a hash of its body:
//! WeChat's retry of a push comes with the same query and body, a replay of a captured
//! query with another body. Kept for the timestamp window, then swept. (An encrypted
//! push's body is covered by its `msg_signature`: it needs no row here.)
//!
//! On MySQL/MariaDB the signature is the table's key. On SQLite the table is kept in
//! the order rows came, under an `id` this model does not name, with no index by
//! signature: the journal knows which signatures it holds (`outbox::journal::recent`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_signatures")]
pub struct Model {
    /// The query's `signature` (hex SHA-1 of token, timestamp and nonce): the key on
    /// MySQL, one row a signature on SQLite by the journal's judgement.
    #[sea_orm(primary_key, auto_increment = false)]
    pub signature: String,
    /// Hex SHA-256 of the push's body.
    pub body_sha256: String,
    pub received_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
