//! A field's value, read exactly by its type from what the shop sent, kept as canonical
//! text, and shown to people.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::schema::FieldType;
use crate::quote::money::{self, AmountError};

/// The longest text a text field takes, in characters.
pub const MAX_TEXT_CHARS: usize = 500;

/// Why a value was refused (the field is named by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("{}", .0.zh())]
    Amount(AmountError),
    #[error("不能为空")]
    Empty,
    #[error("最多 {MAX_TEXT_CHARS} 个字符")]
    TooLong,
    #[error("不能含控制字符")]
    ControlCharacter,
    #[error("必须是 YYYY-MM-DD 格式的日期")]
    NotADate,
    #[error("应为{}", .0.zh())]
    WrongType(FieldType),
}

/// What a client sent for a field: a JSON number's own text (never an f64), or text.
#[derive(Debug, Clone, Copy)]
pub enum Sent<'a> {
    Number(&'a str),
    Text(&'a str),
}

/// A field's value as stored and as the API gives it back: the canonical text of its
/// type (money with two decimals, decimals and integers without trailing zeros, dates
/// as `YYYY-MM-DD`).
pub fn read(kind: FieldType, sent: Sent<'_>) -> Result<String, ValueError> {
    let number = |max_scale: u32| {
        let text = match sent {
            Sent::Number(t) | Sent::Text(t) => t,
        };
        money::parse_decimal(text, max_scale).map_err(ValueError::Amount)
    };
    match kind {
        FieldType::Money => Ok(money::fixed(number(2)?)),
        FieldType::Decimal => Ok(number(4)?.normalize().to_string()),
        FieldType::Integer => Ok(number(0)?.normalize().to_string()),
        FieldType::Text => match sent {
            Sent::Number(_) => Err(ValueError::WrongType(kind)),
            Sent::Text(t) => {
                let t = t.trim();
                if t.is_empty() {
                    Err(ValueError::Empty)
                } else if t.chars().count() > MAX_TEXT_CHARS {
                    Err(ValueError::TooLong)
                } else if t.chars().any(|c| c.is_control() && c != '\n') {
                    Err(ValueError::ControlCharacter)
                } else {
                    Ok(t.to_owned())
                }
            }
        },
        FieldType::Date => match sent {
            Sent::Number(_) => Err(ValueError::WrongType(kind)),
            Sent::Text(t) => {
                let t = t.trim();
                match NaiveDate::parse_from_str(t, "%Y-%m-%d") {
                    Ok(d) if t.len() == 10 => Ok(d.format("%Y-%m-%d").to_string()),
                    _ => Err(ValueError::NotADate),
                }
            }
        },
    }
}

/// A stored value as people read it: money `12800` or `3200.50`, dates `2026年12月1日`.
pub fn display(kind: FieldType, value: &str) -> String {
    match kind {
        FieldType::Money => Decimal::from_str_exact(value)
            .map(money::plain)
            .unwrap_or_else(|_| value.to_owned()),
        FieldType::Date => NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map(|d| format!("{}年{}月{}日", d.year(), d.month(), d.day()))
            .unwrap_or_else(|_| value.to_owned()),
        FieldType::Text | FieldType::Decimal | FieldType::Integer => value.to_owned(),
    }
}

/// The number in a stored money, decimal or integer value.
pub fn number(value: &str) -> Option<Decimal> {
    Decimal::from_str_exact(value).ok()
}

/// One line of an order's items, as stored: every figure canonical text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Item {
    pub name: String,
    /// At most four decimals.
    pub quantity: String,
    /// Yuan, two decimals.
    pub unit_price: String,
    /// Yuan, two decimals: quantity × unit price, rounded to the fen.
    pub amount: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_reads_exactly_and_refuses_what_it_does_not_hold() {
        assert_eq!(
            read(FieldType::Money, Sent::Number("12800")),
            Ok("12800.00".into())
        );
        assert_eq!(
            read(FieldType::Money, Sent::Text("3200.5")),
            Ok("3200.50".into())
        );
        assert_eq!(
            read(FieldType::Money, Sent::Text("1.005")),
            Err(ValueError::Amount(AmountError::TooManyDecimals(2)))
        );
        assert_eq!(
            read(FieldType::Decimal, Sent::Number("88.50")),
            Ok("88.5".into())
        );
        assert_eq!(read(FieldType::Integer, Sent::Number("7")), Ok("7".into()));
        assert_eq!(
            read(FieldType::Integer, Sent::Number("7.5")),
            Err(ValueError::Amount(AmountError::TooManyDecimals(0)))
        );
        assert_eq!(
            read(FieldType::Date, Sent::Text("2026-02-28")),
            Ok("2026-02-28".into())
        );
        assert_eq!(
            read(FieldType::Date, Sent::Text("2026-02-30")),
            Err(ValueError::NotADate)
        );
        assert_eq!(
            read(FieldType::Date, Sent::Text("2026-2-3")),
            Err(ValueError::NotADate)
        );
        assert_eq!(
            read(FieldType::Text, Sent::Text("  三亚  ")),
            Ok("三亚".into())
        );
        assert_eq!(
            read(FieldType::Text, Sent::Text(" ")),
            Err(ValueError::Empty)
        );
        assert_eq!(
            read(FieldType::Text, Sent::Text("a\u{7}b")),
            Err(ValueError::ControlCharacter)
        );
        assert_eq!(
            read(FieldType::Text, Sent::Number("5")),
            Err(ValueError::WrongType(FieldType::Text))
        );
    }

    #[test]
    fn values_read_for_people() {
        assert_eq!(display(FieldType::Money, "12800.00"), "12800");
        assert_eq!(display(FieldType::Money, "3200.50"), "3200.50");
        assert_eq!(display(FieldType::Date, "2026-12-01"), "2026年12月1日");
    }
}
