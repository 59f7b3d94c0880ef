//! Log lines' timestamps, exactly as tracing-subscriber writes them by default
//! (`2026-12-05T10:36:25.123456Z`, UTC, to the microsecond), with the date and the time
//! of day formatted once a second on each thread instead of on every line. Under a
//! campaign the service writes two lines a push; the default timestamp took about 2,400
//! instructions a line (callgrind), of which this keeps the reading of the clock and
//! six digits.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// The service's log timer; see the module's comment.
pub struct Clock;

thread_local! {
    /// The second last written on this thread, and its text up to the fraction's dot.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for Clock {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        write_at(since.as_secs(), since.subsec_micros(), w)
    }
}

/// Writes the instant `secs` seconds and `micros` microseconds after the epoch.
fn write_at(secs: u64, micros: u32, w: &mut impl Write) -> fmt::Result {
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != secs {
            *second = (secs, up_to_the_fraction(secs));
        }
        w.write_str(&second.1)
    })?;
    let mut fraction = *b"000000Z";
    let mut rest = micros;
    for digit in fraction[..6].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    w.write_str(std::str::from_utf8(&fraction).expect("ASCII digits"))
}

/// `2026-12-05T10:36:25.` for the second `secs`.
fn up_to_the_fraction(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .map(|at| at.format("%Y-%m-%dT%H:%M:%S.").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, micros: u32) -> String {
        let mut out = String::new();
        write_at(secs, micros, &mut out).unwrap();
        out
    }

    #[test]
    fn timestamps_read_as_tracing_writes_them_from_one_second_to_the_next() {
        // 2026-12-05T10:36:25Z, then the next second, a new day and a new year.
        assert_eq!(at(1_796_466_985, 123_456), "2026-12-05T10:36:25.123456Z");
        assert_eq!(at(1_796_466_985, 7), "2026-12-05T10:36:25.000007Z");
        assert_eq!(at(1_796_466_986, 999_999), "2026-12-05T10:36:26.999999Z");
        assert_eq!(at(1_796_515_199, 0), "2026-12-05T23:59:59.000000Z");
        assert_eq!(at(1_796_515_200, 1), "2026-12-06T00:00:00.000001Z");
        assert_eq!(at(1_798_761_600, 500_000), "2027-01-01T00:00:00.500000Z");
        assert_eq!(at(1_796_466_985, 10), "2026-12-05T10:36:25.000010Z");
    }

    #[test]
    fn the_clock_writes_what_tracings_default_timer_writes_within_the_same_second() {
        let (mut ours, mut theirs) = (String::new(), String::new());
        for _ in 0..3 {
            ours.clear();
            theirs.clear();
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut theirs))
                .unwrap();
            Clock.format_time(&mut Writer::new(&mut ours)).unwrap();
            if ours[..20] == theirs[..20] {
                break;
            }
        }
        assert_eq!(ours.len(), theirs.len(), "{ours} {theirs}");
        assert_eq!(ours[..20], theirs[..20], "{ours} {theirs}");
        assert!(ours.ends_with('Z'), "{ours}");
    }
}
