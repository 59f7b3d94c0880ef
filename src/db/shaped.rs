//! Statements whose SQL text is made once for each of their shapes, their values bound
//! from where the caller keeps them.
//!
//! The journal writes every batch in statements whose text depends only on a few of
//! their inputs: an insert's table and number of rows, a list's length, which of a few
//! variants it is. Made as sea-orm statements, each value was copied two or three times
//! (into an active model or an expression, into the values the SQL is rendered with)
//! and the SQL rendered again for every batch. Here the caller names the statement's
//! [`Shape`] and gives its values as borrowed [`Param`]s, in the order its text takes
//! them, with a way to build the whole statement. The journal's own SQLite connection
//! ([`super::dedicated`]) builds it once a shape, keeps its text and checks that the
//! statement takes those values in that order, then binds the values as they are;
//! any other connection builds and runs the statement each time, as before
//! ([`super::Execute::queue_shaped`]).
//!
//! On the bench's plaintext SQLite case (callgrind, per push), the scans' and
//! signatures' inserts made this way took the service from 300,030 instructions to
//! 283,958 and from 207 allocations to 184; the messages' inserts and the sent
//! outcomes' updates too, to 275,879 and 168.

use sea_orm::sea_query::{Alias, InsertStatement, Query, SimpleExpr};
use sea_orm::{EntityName, IdenStatic, Value};

/// Where a statement is made: a `static`, whose address tells its statements from
/// every other site's, and whose name says which it is in an error.
#[derive(Debug)]
pub struct Site(pub &'static str);

/// What a statement's text depends on: where it is made, and a number its maker gives
/// for each text it makes there (a list's length, a variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    site: usize,
    variant: usize,
}

impl Shape {
    pub fn new(site: &'static Site, variant: usize) -> Shape {
        Shape {
            site: std::ptr::from_ref(site) as usize,
            variant,
        }
    }
}

/// Whether `values`, as a statement built by sea-query carries them, are `params`:
/// what a kept text is checked with when first made.
pub fn takes(values: &[Value], params: &[Param<'_>]) -> bool {
    let same = |v: &Value, p: &Param<'_>| match (v, *p) {
        (Value::BigInt(v), Param::Int(p)) => *v == p,
        (Value::Int(v), Param::Int(p)) => v.map(i64::from) == p,
        (Value::String(v), Param::Text(p)) => v.as_deref() == p,
        _ => false,
    };
    values.len() == params.len() && values.iter().zip(params).all(|(v, p)| same(v, p))
}

/// A value a row binds: the types the journal's rows are made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(Some(v))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        Param::Int(v)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Param::Text(v)
    }
}

impl Param<'_> {
    /// The value as sea-query owns it, to be written into a statement.
    pub fn value(self) -> Value {
        match self {
            Param::Int(v) => Value::BigInt(v),
            Param::Text(v) => Value::String(v.map(str::to_owned)),
        }
    }
}

/// The table an insert fills and its columns, in the order each row's values come.
/// Made once, as a `static`: its inserts' shapes are its own and their number of rows.
#[derive(Debug)]
pub struct Table {
    site: Site,
    columns: Vec<&'static str>,
}

impl Table {
    pub fn of<C: IdenStatic>(
        entity: impl EntityName,
        columns: impl IntoIterator<Item = C>,
    ) -> Table {
        Table {
            site: Site(entity.table_name()),
            columns: columns.into_iter().map(|c| c.as_str()).collect(),
        }
    }

    pub fn width(&self) -> usize {
        self.columns.len()
    }
}

/// The rows of one `INSERT INTO table (columns) VALUES (…), …`.
pub struct Rows<'a> {
    table: &'static Table,
    /// Row after row, [`Table::width`] values each.
    values: Vec<Param<'a>>,
}

impl<'a> Rows<'a> {
    pub fn with_capacity(table: &'static Table, rows: usize) -> Self {
        Rows {
            table,
            values: Vec::with_capacity(rows * table.width()),
        }
    }

    /// Adds a row: one value for each of the table's columns, in their order.
    pub fn push<const N: usize>(&mut self, row: [Param<'a>; N]) {
        assert_eq!(N, self.table.width(), "a row of {}", self.table.site.0);
        self.values.extend(row);
    }

    /// What the insert's text depends on: its table and its number of rows.
    pub fn shape(&self) -> Shape {
        Shape::new(&self.table.site, self.len())
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.values.len() / self.table.width()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values, row after row.
    pub fn values(&self) -> &[Param<'a>] {
        &self.values
    }

    /// The insert as a sea-query statement, its values copied into it.
    pub fn statement(&self) -> InsertStatement {
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new(self.table.site.0))
            .columns(self.table.columns.iter().map(|c| Alias::new(*c)));
        for row in self.values.chunks(self.table.width()) {
            insert.values_panic(row.iter().map(|p| SimpleExpr::Value(p.value())));
        }
        insert
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::push_signature::{Column as P, Entity as Signatures};
    use sea_orm::sea_query::SqliteQueryBuilder;

    #[test]
    fn the_statement_names_the_columns_and_carries_each_rows_values_in_order() {
        let table: &'static Table = Box::leak(Box::new(Table::of(
            Signatures,
            [P::Signature, P::BodySha256, P::ReceivedAtMs],
        )));
        let mut rows = Rows::with_capacity(table, 2);
        rows.push(["s1".into(), "b1".into(), 7.into()]);
        rows.push(["s2".into(), Param::Text(None), Param::Int(None)]);
        assert_eq!(rows.len(), 2);
        let (sql, values) = rows.statement().build(SqliteQueryBuilder);
        assert!(takes(&values.0, rows.values()));
        assert_eq!(
            sql,
            "INSERT INTO \"push_signatures\" (\"signature\", \"body_sha256\", \"received_at_ms\") \
             VALUES (?, ?, ?), (?, ?, ?)"
        );
        assert_eq!(
            values.0,
            [
                Value::String(Some("s1".into())),
                Value::String(Some("b1".into())),
                Value::BigInt(Some(7)),
                Value::String(Some("s2".into())),
                Value::String(None),
                Value::BigInt(None),
            ]
        );
    }

    #[test]
    fn values_in_another_order_or_number_are_not_taken() {
        let values = [Value::String(Some("a".into())), Value::Int(Some(2))];
        assert!(takes(&values, &["a".into(), 2.into()]));
        assert!(!takes(&values, &[2.into(), "a".into()]));
        assert!(!takes(&values, &["a".into(), 3.into()]));
        assert!(!takes(&values, &["a".into()]));
        assert!(!takes(&values, &["a".into(), 2.into(), 2.into()]));
        assert!(!takes(&[Value::Bool(Some(true))], &[1.into()]));
    }

    #[test]
    fn shapes_differ_by_site_and_variant() {
        static A: Site = Site("a");
        static B: Site = Site("a");
        assert_eq!(Shape::new(&A, 1), Shape::new(&A, 1));
        assert_ne!(Shape::new(&A, 1), Shape::new(&A, 2));
        assert_ne!(Shape::new(&A, 1), Shape::new(&B, 1));
    }

    #[test]
    #[should_panic(expected = "a row of push_signatures")]
    fn a_row_of_another_width_is_refused() {
        let table: &'static Table = Box::leak(Box::new(Table::of(
            Signatures,
            [P::Signature, P::BodySha256, P::ReceivedAtMs],
        )));
        Rows::with_capacity(table, 1).push(["s1".into(), "b1".into()]);
    }
}
