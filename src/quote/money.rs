//! Exact amounts: money in fen and areas in hundredths of a square metre, parsed from
//! decimal text and printed back without ever becoming a float.

use rust_decimal::Decimal;

/// The largest amount accepted: 10 billion (yuan or m²), far beyond any quote and far
/// below i64 overflow.
const MAX_HUNDREDTHS: i64 = 1_000_000_000_000;

/// Why an amount was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must be a number")]
    NotANumber,
    #[error("must not be negative")]
    Negative,
    #[error("must have at most 2 decimal places")]
    TooManyDecimals,
    #[error("is too large")]
    TooLarge,
}

impl AmountError {
    /// What a person reads (the page's forms).
    pub fn zh(self) -> &'static str {
        match self {
            AmountError::NotANumber => "必须是数字",
            AmountError::Negative => "不能为负数",
            AmountError::TooManyDecimals => "最多保留两位小数",
            AmountError::TooLarge => "数值过大",
        }
    }
}

/// Parses decimal text (`"1280"`, `"1280.5"`, `"1.28e3"`) into hundredths.
pub fn parse_hundredths(text: &str) -> Result<i64, AmountError> {
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
        // calling a number not a number.
        // (f64 only classifies the syntax here; its value is never used.)
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
    if value.scale() > 2 {
        return Err(AmountError::TooManyDecimals);
    }
    let hundredths = value * Decimal::ONE_HUNDRED;
    let hundredths = i64::try_from(hundredths).map_err(|_| AmountError::TooLarge)?;
    if hundredths > MAX_HUNDREDTHS {
        return Err(AmountError::TooLarge);
    }
    Ok(hundredths)
}

/// `123456` → `"1234.56"`: always two decimals, for APIs.
pub fn format_fixed(hundredths: i64) -> String {
    let sign = if hundredths < 0 { "-" } else { "" };
    let abs = hundredths.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// `128000` → `"1280"`, `128050` → `"1280.50"`: whole amounts without decimals, for people.
pub fn format_plain(hundredths: i64) -> String {
    if hundredths % 100 == 0 {
        (hundredths / 100).to_string()
    } else {
        format_fixed(hundredths)
    }
}

/// Rounds hundredths to whole units, halves up.
pub fn round_to_whole(hundredths: i64) -> i64 {
    (hundredths + 50).div_euclid(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(parse_hundredths("1280"), Ok(128_000));
        assert_eq!(parse_hundredths("1280.5"), Ok(128_050));
        assert_eq!(parse_hundredths(" 0.01 "), Ok(1));
        assert_eq!(parse_hundredths("0.10"), Ok(10));
        assert_eq!(parse_hundredths("1.5000"), Ok(150));
        assert_eq!(parse_hundredths("1.28e3"), Ok(128_000));
        assert_eq!(parse_hundredths("0"), Ok(0));
        assert_eq!(parse_hundredths("-0"), Ok(0));
        assert_eq!(parse_hundredths("99999999.99"), Ok(9_999_999_999));
    }

    #[test]
    fn refuses_what_is_not_an_exact_amount() {
        assert_eq!(parse_hundredths("-1"), Err(AmountError::Negative));
        assert_eq!(parse_hundredths("1.234"), Err(AmountError::TooManyDecimals));
        assert_eq!(parse_hundredths("abc"), Err(AmountError::NotANumber));
        assert_eq!(parse_hundredths(""), Err(AmountError::NotANumber));
        assert_eq!(parse_hundredths("NaN"), Err(AmountError::NotANumber));
        assert_eq!(parse_hundredths("1e40"), Err(AmountError::TooLarge));
        assert_eq!(parse_hundredths("1-2"), Err(AmountError::NotANumber));
        assert_eq!(parse_hundredths("inf"), Err(AmountError::NotANumber));
        assert_eq!(parse_hundredths("20000000000"), Err(AmountError::TooLarge));
    }

    #[test]
    fn formats_for_apis_and_people() {
        assert_eq!(format_fixed(128_050), "1280.50");
        assert_eq!(format_fixed(5), "0.05");
        assert_eq!(format_plain(128_000), "1280");
        assert_eq!(format_plain(128_050), "1280.50");
    }

    #[test]
    fn rounds_halves_up() {
        assert_eq!(round_to_whole(12_549), 125);
        assert_eq!(round_to_whole(12_550), 126);
        assert_eq!(round_to_whole(0), 0);
    }
}
