//! Times as people in China read them: Beijing time (UTC+8, no daylight saving).

use chrono::TimeZone;

use crate::quote::beijing as beijing_zone;

/// `2026-12-01 20:05`, Beijing time.
pub fn beijing(ms: i64) -> String {
    beijing_zone()
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// `2026-12-01T20:05:09+08:00`, for exports.
pub fn beijing_rfc3339(ms: i64) -> String {
    beijing_zone()
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_beijing() {
        // 2026-12-01T12:05:09Z
        let ms = 1_796_126_709_000;
        assert_eq!(beijing(ms), "2026-12-01 20:05");
        assert_eq!(beijing_rfc3339(ms), "2026-12-01T20:05:09+08:00");
    }
}
