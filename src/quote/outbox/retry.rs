//! The retry policy: what a send's outcome does to its message.
//!
//! WeChat accepts customer-service messages for one minute after a scan ([`WINDOW_MS`]
//! keeps a margin); after it, it answers 45015. So a transient failure (network,
//! timeout, HTTP 5xx, "system busy", a token that needed a refresh) is retried with
//! capped exponential backoff and jitter, but only while the retry still lands inside
//! that minute; past it, or on a permanent error, the message is failed with WeChat's
//! errcode and errmsg (or our own reason), for the site owner to read.

use std::time::Duration;

use entity::delivery;
use rand::Rng;

use crate::quote::card::TemplateError;
use crate::wechat::WechatError;

/// WeChat accepts messages for one minute after a scan; keep a margin for clock skew
/// and the request's own time in flight.
pub const WINDOW_MS: i64 = 55_000;

/// Why a send did not succeed.
#[derive(Debug)]
pub enum Failure {
    Wechat(WechatError),
    /// Something on our side that retrying will not fix.
    Local(LocalFailure),
}

/// Reasons on our side, recorded as the message's reason.
#[derive(Debug, thiserror::Error)]
pub enum LocalFailure {
    #[error("the minute after the scan in which WeChat accepts messages has passed")]
    WindowPassed,
    #[error("order no longer exists")]
    OrderGone,
    #[error("no message template")]
    NoTemplate,
    #[error("template: {0}")]
    Template(#[from] TemplateError),
    #[error("the stored template does not compile: {0}")]
    BrokenTemplate(String),
}

/// What one outcome does to its row.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    Sent,
    Retry {
        at_ms: i64,
        errcode: Option<i32>,
        errmsg: String,
    },
    Fail {
        errcode: Option<i32>,
        errmsg: String,
        /// The reason counted in the metrics: the errcode, `network` or `local`.
        reason: String,
    },
}

/// Capped exponential backoff with jitter: 0.5 s, 1 s, 2 s, 4 s, then 8 s, each scaled
/// by a random factor in [0.5, 1) so retries from many messages do not arrive together.
pub fn backoff(attempt: u32) -> Duration {
    let base_ms = 500u64 << Ord::min(attempt.saturating_sub(1), 4);
    let factor = rand::thread_rng().gen_range(0.5..1.0);
    Duration::from_millis((base_ms as f64 * factor) as u64)
}

/// What the outcome of attempt `d.attempts` does to `d`, decided at `now`.
pub fn decide(d: &delivery::Model, outcome: &Result<(), Failure>, now: i64) -> Change {
    let (errcode, errmsg, transient) = match outcome {
        Ok(()) => return Change::Sent,
        Err(Failure::Local(reason)) => (None, reason.to_string(), false),
        Err(Failure::Wechat(e)) => (
            e.errcode().and_then(|c| i32::try_from(c).ok()),
            e.errmsg(),
            e.is_transient(),
        ),
    };
    let retry_at = now + backoff(d.attempts as u32).as_millis() as i64;
    if transient && retry_at < d.deadline_at_ms {
        return Change::Retry {
            at_ms: retry_at,
            errcode,
            errmsg,
        };
    }
    let reason = match (errcode, transient) {
        (Some(code), _) => code.to_string(),
        (None, true) => "network".to_owned(),
        (None, false) => "local".to_owned(),
    };
    Change::Fail {
        errcode,
        errmsg,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(attempts: i32, deadline_at_ms: i64) -> delivery::Model {
        delivery::Model {
            id: 1,
            scan_id: 1,
            openid: "o".into(),
            order_id: 1,
            status: "sending".into(),
            attempts,
            next_attempt_at_ms: 0,
            lease_until_ms: 0,
            deadline_at_ms,
            errcode: None,
            errmsg: None,
            sent_at_ms: None,
            created_at_ms: 0,
            updated_at_ms: 0,
            claim_token: Some("t".into()),
        }
    }

    #[test]
    fn backoff_grows_then_caps_and_jitters_downwards() {
        for (attempt, full) in [
            (1, 500),
            (2, 1000),
            (3, 2000),
            (4, 4000),
            (5, 8000),
            (9, 8000),
        ] {
            for _ in 0..50 {
                let ms = backoff(attempt).as_millis() as u64;
                assert!(ms >= full / 2 && ms < full, "attempt {attempt}: {ms} ms");
            }
        }
    }

    #[test]
    fn transient_failures_retry_inside_the_minute_and_fail_after_it() {
        let busy = || {
            Err(Failure::Wechat(WechatError::Retry {
                errcode: Some(-1),
                reason: "system busy".into(),
            }))
        };
        assert!(matches!(
            decide(&message(1, 60_000), &busy(), 0),
            Change::Retry {
                errcode: Some(-1),
                ..
            }
        ));
        assert!(matches!(
            decide(&message(1, 100), &busy(), 0),
            Change::Fail {
                errcode: Some(-1),
                ..
            }
        ));
        let refused = Err(Failure::Wechat(WechatError::Rejected {
            errcode: 40003,
            errmsg: "invalid openid".into(),
        }));
        assert_eq!(
            decide(&message(1, 60_000), &refused, 0),
            Change::Fail {
                errcode: Some(40003),
                errmsg: "invalid openid".into(),
                reason: "40003".into()
            }
        );
        assert_eq!(decide(&message(1, 0), &Ok(()), 0), Change::Sent);
    }
}
