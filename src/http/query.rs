//! Numbers in a query string, checked before anything uses them: a page past what can
//! exist, a negative count or text where a number goes is a 400 naming the parameter,
//! never a panic deep in a query builder.

use crate::AppError;

/// `raw` as a whole number in `min..=max`, or `default` when it is absent or empty.
pub fn number(
    raw: Option<&str>,
    field: &'static str,
    min: u64,
    max: u64,
    default: u64,
) -> Result<u64, AppError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(default);
    };
    match raw.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(AppError::bad_field(
            field,
            format!("{field} 须为 {min} 到 {max} 之间的整数"),
        )),
    }
}

/// The deepest page a listing goes to (any listing ends long before).
pub const MAX_PAGE: u64 = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_range_pass_and_others_name_the_field() {
        assert_eq!(number(None, "page", 0, 10, 3).unwrap(), 3);
        assert_eq!(number(Some(""), "page", 0, 10, 3).unwrap(), 3);
        assert_eq!(number(Some("7"), "page", 0, 10, 3).unwrap(), 7);
        for bad in ["11", "-1", "+5", "abc", "18446744073709551616", "1.5"] {
            match number(Some(bad), "page", 0, 10, 3) {
                Err(AppError::BadRequest {
                    field: Some(f),
                    reason,
                }) => {
                    assert_eq!(f, "page");
                    assert!(reason.contains("0 到 10"), "{reason}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
