//! The replay guard on SQLite: which plaintext pushes' signatures the database holds,
//! known from memory.
//!
//! There `push_signatures` is kept in the order rows came, with no index by signature
//! (the migration `push_signatures_in_order` says why: an index on a SHA-1 put every
//! row of a commit on a page of its own). The journal is the one writer of the file at
//! a time: its transactions take the write lock first. So inside each transaction,
//! before judging a batch, it reads the rows added since its last look (its own and
//! other instances'), and the batch's signatures are judged by those: whatever the
//! file holds, the journal knows, with no one able to add a row in between.
//!
//! Memory holds a hash of each signature and its row's id, about 30 bytes a row (the
//! bench's process grew about 50 a plaintext push, the map's spare room included); a
//! signature found there is confirmed by reading its row, and one whose hash another
//! shares is looked up in the table itself. Rows the sweeper removed are forgotten
//! within a second.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use sea_orm::DbErr;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement};

use super::memory::{Cells, FromCells, ReadRows, col, given, one};
use crate::quote::outbox::enqueue::NewScan;

/// How often the table's first row is asked for, to forget what was swept.
const FORGET_EVERY: Duration = Duration::from_secs(1);

/// A row of the table, as read: its body's hash only where it is asked for
/// ([`select`]).
pub struct Row {
    id: i64,
    signature: String,
    body_sha256: Option<String>,
}

impl FromCells for Row {
    fn from_cells(row: &impl Cells) -> Result<Self, DbErr> {
        Ok(Row {
            id: given(row.int(0)?, "a signature's id")?,
            signature: given(row.text(1)?, "a signature")?,
            body_sha256: row.text(2)?,
        })
    }
}

/// What the journal knows of the table; knowing nothing at first, so that the first
/// [`Recent::catch_up`] reads the whole table.
#[derive(Default)]
pub struct Recent {
    /// The last row read: every row after it was added since.
    last_id: i64,
    /// A signature's hash → the id of the last row with that hash.
    by_hash: HashMap<u64, i64>,
    hasher: RandomState,
    forgot_at: Option<Instant>,
    /// The table's first id when last asked: nothing below it is remembered.
    first_id: i64,
}

impl Recent {
    /// Reads the rows added since the last look, and, once a second, forgets the rows
    /// swept. Called inside the write transaction, before the batch is judged.
    pub async fn catch_up(&mut self, conn: &impl ReadRows) -> Result<(), DbErr> {
        let added: Vec<Row> = conn
            .read(
                &select(Body::Left)
                    .and_where(col("id").gt(self.last_id))
                    .order_by(Alias::new("id"), Order::Asc)
                    .to_owned(),
            )
            .await?;
        for row in added {
            let hash = self.hasher.hash_one(&row.signature);
            self.by_hash.insert(hash, row.id);
            self.last_id = row.id;
        }
        if self.forgot_at.is_none_or(|at| at.elapsed() >= FORGET_EVERY) {
            // Ids are never given twice: none below the first is coming back.
            let first = one(conn, &first_id()).await?.unwrap_or(self.last_id + 1);
            self.forget_before(first);
            self.forgot_at = Some(Instant::now());
        }
        Ok(())
    }

    /// Forgets the rows before `first`: a pass over memory, once a second at most and
    /// only when the sweeper has removed rows (a minute apart), where keeping the ids
    /// in order as well would cost memory a second time.
    fn forget_before(&mut self, first: i64) {
        if first > self.first_id {
            self.by_hash.retain(|_, id| *id >= first);
            self.first_id = first;
        }
    }

    /// Signature → body hash, for the signatures of `scans` that the table holds.
    pub async fn known(
        &self,
        conn: &impl ReadRows,
        scans: &[NewScan],
    ) -> Result<HashMap<String, String>, DbErr> {
        let signatures = scans
            .iter()
            .filter_map(|s| Some(s.seen.as_ref()?.signature.as_str()));
        let ids: Vec<i64> = signatures
            .clone()
            .filter_map(|s| self.by_hash.get(&self.hasher.hash_one(s)).copied())
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<Row> = conn
            .read(
                &select(Body::Read)
                    .and_where(col("id").is_in(crate::db::padded(&ids)))
                    .to_owned(),
            )
            .await?;
        let mut known: HashMap<String, String> = rows
            .into_iter()
            .filter_map(|r| Some((r.signature, r.body_sha256?)))
            .collect();
        // A hash that another signature shares, or a row swept meanwhile: the table
        // itself says. (A scan of it, as rare as such a hash.)
        let unsure: Vec<&str> = signatures
            .filter(|s| {
                !known.contains_key(*s) && self.by_hash.contains_key(&self.hasher.hash_one(s))
            })
            .collect();
        if !unsure.is_empty() {
            let found: Vec<Row> = conn
                .read(
                    &select(Body::Read)
                        .and_where(col("signature").is_in(unsure))
                        .to_owned(),
                )
                .await?;
            known.extend(
                found
                    .into_iter()
                    .filter_map(|r| Some((r.signature, r.body_sha256?))),
            );
        }
        Ok(known)
    }

    /// How many rows it remembers (for `/metrics`).
    pub fn remembered(&self) -> usize {
        self.by_hash.len()
    }

    /// Makes `signature`'s hash lead to `other`'s row, as when two signatures share one.
    #[cfg(test)]
    pub fn confuse(&mut self, signature: &str, other: &str) {
        let id = self.by_hash[&self.hasher.hash_one(other)];
        self.by_hash.insert(self.hasher.hash_one(signature), id);
    }
}

/// Whether a select reads the rows' body hashes.
#[derive(Clone, Copy)]
enum Body {
    Read,
    /// `NULL` in its place: catching up reads every row once and needs only its
    /// signature, and a body's hash is a string to allocate a row (a whole table's
    /// worth after a restart).
    Left,
}

fn select(body: Body) -> SelectStatement {
    let body = match body {
        Body::Read => col("body_sha256"),
        Body::Left => Expr::cust("NULL"),
    };
    Query::select()
        .columns([Alias::new("id"), Alias::new("signature")])
        .expr(body)
        .from(Alias::new("push_signatures"))
        .to_owned()
}

fn first_id() -> SelectStatement {
    Query::select()
        .expr(Func::min(col("id")))
        .from(Alias::new("push_signatures"))
        .to_owned()
}
