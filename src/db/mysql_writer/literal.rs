//! Statements with their values written into them, for the journal's MySQL connection
//! to send several as one ([`super::Open`]): a multi-statement query is text, so it
//! takes no bound values.

use sea_orm::sea_query::{Token, Tokenizer};
use sea_orm::{DbBackend, DbErr, RuntimeErr, StatementBuilder, Value};

/// `statement` with its values written into it as literals ([`literal`]).
pub fn inline<S: StatementBuilder>(statement: &S) -> Result<String, DbErr> {
    let statement = statement.build(&DbBackend::MySql);
    let values = statement.values.map(|v| v.0).unwrap_or_default();
    written(&statement.sql, &values)
}

/// `sql` with each `?` placeholder replaced by its value in `values`, in order.
fn written(sql: &str, values: &[Value]) -> Result<String, DbErr> {
    let mut values = values.iter();
    let mut out = String::with_capacity(sql.len() + 40 * values.len());
    // The tokenizer tells a placeholder from a `?` inside a quoted name or string.
    for token in Tokenizer::new(sql).iter() {
        match token {
            Token::Punctuation("?") => {
                let value = values
                    .next()
                    .ok_or_else(|| unwritable("a placeholder without a value"))?;
                literal(&mut out, value)?;
            }
            other => out.push_str(other.as_str()),
        }
    }
    match values.next() {
        Some(_) => Err(unwritable("a value without a placeholder")),
        None => Ok(out),
    }
}

/// `value` as a MySQL literal whose meaning depends on no setting of the connection:
/// numbers in decimal, and text as its UTF-8 bytes in hexadecimal, declared utf8mb4
/// (`_utf8mb4 X'…'`). No escaping is involved, so neither `NO_BACKSLASH_ESCAPES` nor
/// the client's character set can change what a string means. (sea-query's own
/// escaping writes Ctrl-Z as `\z`, which MySQL reads as `z`.)
fn literal(out: &mut String, value: &Value) -> Result<(), DbErr> {
    use std::fmt::Write;
    let number = |out: &mut String, n: Option<&dyn std::fmt::Display>| match n {
        Some(n) => write!(out, "{n}").expect("a String takes it"),
        None => out.push_str("NULL"),
    };
    match value {
        Value::Bool(b) => number(out, b.map(u8::from).as_ref().map(|b| b as _)),
        Value::TinyInt(n) => number(out, n.as_ref().map(|n| n as _)),
        Value::SmallInt(n) => number(out, n.as_ref().map(|n| n as _)),
        Value::Int(n) => number(out, n.as_ref().map(|n| n as _)),
        Value::BigInt(n) => number(out, n.as_ref().map(|n| n as _)),
        Value::TinyUnsigned(n) => number(out, n.as_ref().map(|n| n as _)),
        Value::SmallUnsigned(n) => number(out, n.as_ref().map(|n| n as _)),
        Value::Unsigned(n) => number(out, n.as_ref().map(|n| n as _)),
        Value::BigUnsigned(n) => number(out, n.as_ref().map(|n| n as _)),
        Value::String(None) | Value::Char(None) | Value::Bytes(None) => out.push_str("NULL"),
        Value::String(Some(s)) => hex(out, "_utf8mb4 X'", s.as_bytes()),
        Value::Char(Some(c)) => hex(out, "_utf8mb4 X'", c.to_string().as_bytes()),
        Value::Bytes(Some(b)) => hex(out, "X'", b),
        other => return Err(unwritable(&format!("no literal for {other:?}"))),
    }
    Ok(())
}

fn hex(out: &mut String, open: &str, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(open.len() + 2 * bytes.len() + 1);
    out.push_str(open);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out.push('\'');
}

fn unwritable(why: &str) -> DbErr {
    DbErr::Exec(RuntimeErr::Internal(format!(
        "a statement for the journal: {why}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Expr, Query};
    use sea_orm::sqlx::mysql::MySqlConnection;
    use sea_orm::sqlx::{self, AssertSqlSafe, Connection};

    async fn select(conn: &mut MySqlConnection, value: &str) -> String {
        let sql = inline(&Query::select().expr(Expr::val(value)).to_owned()).unwrap();
        sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(conn)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_string_reads_back_as_itself_whatever_the_connection_escapes() {
        let Some(url) = crate::db::tests::mysql_url() else {
            return;
        };
        let mut conn = MySqlConnection::connect(&url).await.unwrap();
        let odd = ["a\\' OR 1=1 -- ", "\x1a\0\\\"'?", "", "报价 😀"];
        for mode in [
            "STRICT_TRANS_TABLES",
            "STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES",
        ] {
            let set = format!("SET SESSION sql_mode = '{mode}'");
            sqlx::raw_sql(AssertSqlSafe(set))
                .execute(&mut conn)
                .await
                .unwrap();
            for value in odd {
                assert_eq!(select(&mut conn, value).await, value, "under {mode}");
            }
        }
    }

    #[test]
    fn numbers_and_nulls_are_written_as_such_and_a_question_mark_in_a_name_is_left() {
        let update = Query::update()
            .table(sea_orm::sea_query::Alias::new("odd?name"))
            .value(sea_orm::sea_query::Alias::new("a"), Option::<String>::None)
            .value(sea_orm::sea_query::Alias::new("b"), -7i64)
            .value(sea_orm::sea_query::Alias::new("c"), true)
            .to_owned();
        assert_eq!(
            inline(&update).unwrap(),
            "UPDATE `odd?name` SET `a` = NULL, `b` = -7, `c` = 1"
        );
    }

    #[test]
    fn what_cannot_be_written_is_an_error_not_a_guess() {
        let float = Query::select().expr(Expr::val(1.5f64)).to_owned();
        let refused = inline(&float).unwrap_err().to_string();
        assert!(refused.contains("no literal for Double"), "{refused}");
        let one = [Value::Int(Some(1))];
        let short = written("SELECT ?, ?", &one).unwrap_err().to_string();
        assert!(short.contains("a placeholder without a value"), "{short}");
        let long = written("SELECT 1", &one).unwrap_err().to_string();
        assert!(long.contains("a value without a placeholder"), "{long}");
        // A `?` inside a string is text, not a placeholder.
        assert_eq!(written("SELECT '?', ?", &one).unwrap(), "SELECT '?', 1");
    }
}
