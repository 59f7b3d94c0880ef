//! WeChat's retries on SQLite: which of a batch's event identities the database holds,
//! known from memory for the pushes of the last half minute and read from the table
//! for older ones.
//!
//! There `scans` has no unique index on the identity (the migration
//! `scan_identities_in_order` says why: a flat-out second's identities span hundreds
//! of pages, so each scan of a commit wrote a page of its own). The journal is the one
//! writer of the file at a time (its transactions take the write lock first), so, as
//! for the replay guard (`recent`), inside each transaction that brings scans it first
//! reads the scans added since its last look, its own and other instances', and judges
//! the batch by those: no one can add a row in between.
//!
//! An identity carries its push's `CreateTime` (`ScanEvent::identity`), and a retry
//! repeats it. So memory is kept by that second: it holds every scan whose push's
//! second is at or after `horizon`, [`KEEP_SECS`] behind the newest second met, and
//! forgets a second whole once it falls behind. A push from a second before the horizon
//! (WeChat's retries come within about 15 s; a queue or a clock can hold one longer) is
//! looked up in the table, by `idx_scans_event_time`, among that second's scans.
//!
//! Memory holds 32 bits of a (keyed) hash of each identity and its row's id, as an
//! offset from its second's first: 8 bytes a scan and the map's spare room. A hash
//! found there is confirmed by reading its row; one whose row says otherwise (a hash
//! two identities of one second share, about one push in 200,000 at 20,000 a second;
//! a row removed) is looked up in the table like an old push.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};

use sea_orm::DbErr;
use sea_orm::sea_query::{Alias, ExprTrait, Func, Order, Query, SelectStatement};

use super::memory::{Cells, FromCells, ReadRows, col, given, one};
use crate::quote::outbox::enqueue::NewScan;

/// How many seconds behind the newest push's second memory reaches. Retries come
/// within about 15 s; the rest of the window is margin, paid for in memory (about 15
/// bytes a scan for 30 s of scans).
pub const KEEP_SECS: i64 = 30;

/// A scan as read: its id, identity and push's second.
struct Row {
    id: i64,
    identity: String,
    second: i64,
}

impl FromCells for Row {
    fn from_cells(row: &impl Cells) -> Result<Self, DbErr> {
        Ok(Row {
            id: given(row.int(0)?, "a scan's id")?,
            identity: given(row.text(1)?, "a scan's identity")?,
            second: given(row.int(2)?, "a scan's event time")?,
        })
    }
}

/// One second's scans, as memory holds them.
struct Second {
    /// The first scan of the second read: ids are read in order, so none is lower.
    first_id: i64,
    /// An identity's hash (its top 32 bits) → the last scan with it, as an offset from
    /// `first_id` (`u32::MAX`, leading to no row, should one not fit).
    ids: HashMap<u32, u32>,
}

/// What the journal knows of the scans table; nothing at first, so that the first
/// [`Identities::catch_up`] reads the recent scans.
#[derive(Default)]
pub struct Identities {
    /// Whether the table has been read at all.
    loaded: bool,
    /// The last scan read: every scan after it was added since.
    last_id: i64,
    /// Every scan whose push's second is at or after this is in `by_second`.
    horizon: i64,
    /// A push's second → its scans.
    by_second: BTreeMap<i64, Second>,
    hasher: RandomState,
}

impl Identities {
    /// Reads the scans added since the last look (the first time, those of the last
    /// [`KEEP_SECS`] before `now_secs`), and forgets the seconds fallen behind. Called
    /// inside the write transaction, before a batch with scans is judged.
    pub async fn catch_up(&mut self, conn: &impl ReadRows, now_secs: i64) -> Result<(), DbErr> {
        let added: Vec<Row> = if self.loaded {
            conn.read(
                &select()
                    .and_where(col("id").gt(self.last_id))
                    .order_by(Alias::new("id"), Order::Asc)
                    .to_owned(),
            )
            .await?
        } else {
            let horizon = now_secs - KEEP_SECS;
            let last = one(conn, &last_id()).await?.unwrap_or(0);
            let recent = conn
                .read(
                    &select()
                        .and_where(col("event_time").gte(horizon))
                        .and_where(col("id").lte(last))
                        .order_by(Alias::new("id"), Order::Asc)
                        .to_owned(),
                )
                .await?;
            self.horizon = horizon;
            self.last_id = last;
            self.loaded = true;
            recent
        };
        for row in added {
            self.last_id = Ord::max(self.last_id, row.id);
            if row.second >= self.horizon {
                let key = self.key(&row.identity);
                let second = self.by_second.entry(row.second).or_insert(Second {
                    first_id: row.id,
                    ids: HashMap::new(),
                });
                let offset = u32::try_from(row.id - second.first_id).unwrap_or(u32::MAX);
                second.ids.insert(key, offset);
            }
        }
        // Measured from the newest push's second, so that a pause in traffic forgets
        // nothing a retry could still need; but never from a second ahead of this
        // machine's clock, which one push with a wrong `CreateTime` could otherwise
        // move the horizon past every push to come (they would be read from the table).
        let newest = self.by_second.keys().next_back().copied().unwrap_or(0);
        let horizon = Ord::min(newest, now_secs) - KEEP_SECS;
        if horizon > self.horizon {
            self.by_second = self.by_second.split_off(&horizon);
            self.horizon = horizon;
        }
        Ok(())
    }

    /// The identities of `scans` that the table holds. The transaction must have
    /// caught up first.
    pub async fn stored(
        &self,
        conn: &impl ReadRows,
        scans: &[NewScan],
    ) -> Result<HashSet<String>, DbErr> {
        let mut stored = HashSet::new();
        // Memory's candidates: each scan whose hash it holds, with the row it leads to.
        let candidates: Vec<(&NewScan, i64)> = scans
            .iter()
            .filter_map(|s| Some((s, self.remembered_id(s)?)))
            .collect();
        let mut unsure: Vec<&NewScan> = Vec::new();
        if !candidates.is_empty() {
            let ids: Vec<i64> = candidates.iter().map(|(_, id)| *id).collect();
            let rows: Vec<Row> = conn
                .read(
                    &select()
                        .and_where(col("id").is_in(crate::db::padded(&ids)))
                        .to_owned(),
                )
                .await?;
            // Each row read is a stored identity, whichever scan's hash led to it; a
            // candidate whose identity none of them holds is for the table to say.
            let confirmed: HashSet<String> = rows.into_iter().map(|r| r.identity).collect();
            unsure.extend(
                candidates
                    .iter()
                    .map(|(s, _)| *s)
                    .filter(|s| !confirmed.contains(&s.identity)),
            );
            stored.extend(confirmed);
        }
        // Older pushes, and hashes memory could not confirm: the table, by second.
        unsure.extend(scans.iter().filter(|s| s.row.event_time < self.horizon));
        if !unsure.is_empty() {
            let seconds: Vec<i64> = unsure.iter().map(|s| s.row.event_time).collect();
            let identities: Vec<&str> = unsure.iter().map(|s| s.identity.as_str()).collect();
            let rows: Vec<Row> = conn
                .read(
                    &select()
                        .and_where(col("event_time").is_in(seconds))
                        .and_where(col("event_identity").is_in(identities))
                        .to_owned(),
                )
                .await?;
            stored.extend(rows.into_iter().map(|r| r.identity));
        }
        Ok(stored)
    }

    /// The last scan the journal has read: once it has caught up inside its
    /// transaction, every scan after it is one the transaction writes.
    pub fn last_id(&self) -> i64 {
        self.last_id
    }

    /// How many scans it remembers (for `/metrics`).
    pub fn remembered(&self) -> usize {
        self.by_second.values().map(|s| s.ids.len()).sum()
    }

    /// The key `identity` is remembered by.
    fn key(&self, identity: &str) -> u32 {
        (self.hasher.hash_one(identity) >> 32) as u32
    }

    /// The scan `s`'s hash leads to, if memory holds its second and the hash.
    fn remembered_id(&self, s: &NewScan) -> Option<i64> {
        if s.row.event_time < self.horizon {
            return None;
        }
        let second = self.by_second.get(&s.row.event_time)?;
        let offset = *second.ids.get(&self.key(&s.identity))?;
        Some(match offset {
            u32::MAX => 0,
            offset => second.first_id + i64::from(offset),
        })
    }

    /// Makes `identity`'s hash (a scan of second `second`) lead to `other`'s row, as
    /// when two identities share one.
    #[cfg(test)]
    pub fn confuse(&mut self, second: i64, identity: &str, other: &str) {
        let (key, other) = (self.key(identity), self.key(other));
        let ids = &mut self
            .by_second
            .get_mut(&second)
            .expect("a remembered second")
            .ids;
        let offset = ids[&other];
        ids.insert(key, offset);
    }
}

fn select() -> SelectStatement {
    Query::select()
        .columns([
            Alias::new("id"),
            Alias::new("event_identity"),
            Alias::new("event_time"),
        ])
        .from(Alias::new("scans"))
        .to_owned()
}

fn last_id() -> SelectStatement {
    Query::select()
        .expr(Func::max(col("id")))
        .from(Alias::new("scans"))
        .to_owned()
}
