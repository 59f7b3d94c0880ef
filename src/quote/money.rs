//! Exact numbers: money and decimals read from decimal text (or a JSON number's own
//! text) into `rust_decimal::Decimal` and printed back, never passing through a float.

use rust_decimal::Decimal;

/// The largest number accepted: 10 billion (yuan, m², nights…), far beyond any quote.
const MAX_VALUE: i64 = 10_000_000_000;

/// Why a number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must be a number")]
    NotANumber,
    #[error("must not be negative")]
    Negative,
    #[error("must have at most {0} decimal places")]
    TooManyDecimals(u32),
    #[error("is too large")]
    TooLarge,
}

impl AmountError {
    /// What a person reads.
    pub fn zh(self) -> String {
        match self {
            AmountError::NotANumber => "必须是数字".into(),
            AmountError::Negative => "不能为负数".into(),
            AmountError::TooManyDecimals(0) => "必须是整数".into(),
            AmountError::TooManyDecimals(n) => format!("最多保留 {n} 位小数"),
            AmountError::TooLarge => "数值过大".into(),
        }
    }
}

/// Parses decimal text (`"1280"`, `"1280.5"`, `"1.28e3"`) with at most `max_scale`
/// decimal places, not negative, at most ten billion.
pub fn parse_decimal(text: &str, max_scale: u32) -> Result<Decimal, AmountError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AmountError::NotANumber);
    }
    let value = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    }
    .map_err(|_| {
        // Well-formed but beyond what Decimal holds (28 digits): say so rather than
        // calling a number not a number. (f64 only classifies the syntax here; its
        // value is never used.)
        let numeric = text.parse::<f64>().is_ok()
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || ".eE+-".contains(c));
        if numeric {
            AmountError::TooLarge
        } else {
            AmountError::NotANumber
        }
    })?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(AmountError::Negative);
    }
    let value = value.normalize();
    if value.scale() > max_scale {
        return Err(AmountError::TooManyDecimals(max_scale));
    }
    if value > Decimal::from(MAX_VALUE) {
        return Err(AmountError::TooLarge);
    }
    // `-0` is zero.
    Ok(value.abs())
}

/// Money as stored and as the API gives it: always two decimals (`"1280.50"`).
pub fn fixed(value: Decimal) -> String {
    format!("{:.2}", value.round_dp(2))
}

/// Money for people: whole amounts without decimals (`"1280"`, `"1280.50"`).
pub fn plain(value: Decimal) -> String {
    if value.fract().is_zero() {
        value.trunc().normalize().to_string()
    } else {
        fixed(value)
    }
}

/// Rounds to whole units, halves up (away from zero; no value here is negative).
pub fn round_to_whole(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(parse_decimal("1280", 2), Ok(dec("1280")));
        assert_eq!(parse_decimal("1280.5", 2), Ok(dec("1280.5")));
        assert_eq!(parse_decimal(" 0.01 ", 2), Ok(dec("0.01")));
        assert_eq!(parse_decimal("1.5000", 2), Ok(dec("1.5")));
        assert_eq!(parse_decimal("1.28e3", 2), Ok(dec("1280")));
        assert_eq!(parse_decimal("-0", 2), Ok(dec("0")));
        assert_eq!(parse_decimal("99999999.99", 2), Ok(dec("99999999.99")));
        assert_eq!(parse_decimal("0.1234", 4), Ok(dec("0.1234")));
    }

    #[test]
    fn refuses_what_is_not_an_exact_amount() {
        assert_eq!(parse_decimal("-1", 2), Err(AmountError::Negative));
        assert_eq!(
            parse_decimal("1.234", 2),
            Err(AmountError::TooManyDecimals(2))
        );
        assert_eq!(
            parse_decimal("1.5", 0),
            Err(AmountError::TooManyDecimals(0))
        );
        for text in ["abc", "", "NaN", "1-2", "inf", "0x10", "1,000"] {
            assert_eq!(
                parse_decimal(text, 2),
                Err(AmountError::NotANumber),
                "{text}"
            );
        }
        assert_eq!(parse_decimal("1e40", 2), Err(AmountError::TooLarge));
        assert_eq!(parse_decimal("20000000000", 2), Err(AmountError::TooLarge));
    }

    #[test]
    fn formats_for_apis_and_people() {
        assert_eq!(fixed(dec("1280.5")), "1280.50");
        assert_eq!(fixed(dec("0.05")), "0.05");
        assert_eq!(plain(dec("1280.00")), "1280");
        assert_eq!(plain(dec("1280.50")), "1280.50");
        assert_eq!(round_to_whole(dec("125.49")), dec("125"));
        assert_eq!(round_to_whole(dec("125.5")), dec("126"));
    }
}
