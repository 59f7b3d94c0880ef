//! The retry policy: what a send's outcome does to its delivery, by kind.
//!
//! Messages: WeChat accepts customer-service messages for one minute after a scan
//! ([`WINDOW_MS`] keeps a margin); after it, it answers 45015. So a transient failure
//! (network, timeout, HTTP 5xx, "system busy", a token that needed a refresh) is
//! retried with capped exponential backoff and jitter, but only while the retry still
//! lands inside that minute; past it, or on a permanent error, the message is failed
//! with WeChat's errcode and errmsg (or our own reason), for the site owner to read.
//!
//! Webhook events: whatever the shop's server answered other than 2xx, the event is
//! tried again, 1 s, 4 s, 16 s … after, four times longer each time up to an hour, for
//! a day ([`WEBHOOK_WINDOW_MS`]); the shop drops repeats by the event's id.

use std::time::Duration;

use entity::delivery;
use rand::Rng;

use crate::quote::card::TemplateError;
use crate::wechat::WechatError;

/// WeChat accepts messages for one minute after a scan; keep a margin for clock skew
/// and the request's own time in flight.
pub const WINDOW_MS: i64 = 55_000;
/// How long the shop's webhook is tried with an event.
pub const WEBHOOK_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// The longest wait between two tries of a webhook event.
const WEBHOOK_MAX_WAIT_MS: i64 = 60 * 60 * 1000;

/// Why a send did not succeed.
#[derive(Debug)]
pub enum Failure {
    Wechat(WechatError),
    Webhook(WebhookRefused),
    /// Something on our side that retrying will not fix.
    Local(LocalFailure),
}

/// Reasons on our side, recorded as the delivery's reason, for the site owner.
#[derive(Debug, thiserror::Error)]
pub enum LocalFailure {
    #[error("扫码后已超过 1 分钟，微信不再接受这条消息")]
    WindowPassed,
    #[error("订单已不存在")]
    OrderGone,
    #[error("没有消息模板")]
    NoTemplate,
    #[error("消息模板有误：{0}")]
    Template(#[from] TemplateError),
    #[error("保存的消息模板无法使用：{0}")]
    BrokenTemplate(String),
    #[error("网站通知已关闭")]
    WebhookOff,
    #[error("一天之内网站都没有收下这条通知")]
    WebhookDayPassed,
}

/// Why the shop's server did not take a webhook event (tried again).
#[derive(Debug, thiserror::Error)]
pub enum WebhookRefused {
    #[error("网站返回 HTTP {0}")]
    Status(u16),
    #[error("无法连接网站：{0}")]
    Network(String),
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

/// How long before try `attempt + 1` of a webhook event: 4^(attempt-1) seconds up to
/// an hour, plus up to a tenth more so many events do not come back together.
pub fn webhook_backoff(attempt: u32) -> Duration {
    let base_ms = 1000i64
        .saturating_mul(4i64.saturating_pow(attempt.saturating_sub(1).min(10)))
        .min(WEBHOOK_MAX_WAIT_MS);
    let jitter = rand::thread_rng().gen_range(0..=base_ms / 10);
    Duration::from_millis((base_ms + jitter) as u64)
}

/// What the outcome of attempt `d.attempts` does to `d`, decided at `now`.
pub fn decide(d: &delivery::Model, outcome: &Result<(), Failure>, now: i64) -> Change {
    let (errcode, errmsg, transient) = match outcome {
        Ok(()) => return Change::Sent,
        Err(Failure::Local(reason)) => (None, reason.to_string(), false),
        Err(Failure::Webhook(refused)) => (None, refused.to_string(), true),
        Err(Failure::Wechat(e)) => (
            e.errcode().and_then(|c| i32::try_from(c).ok()),
            e.errmsg(),
            e.is_transient(),
        ),
    };
    let wait = if d.kind == super::Kind::Webhook.as_str() {
        webhook_backoff(d.attempts as u32)
    } else {
        backoff(d.attempts as u32)
    };
    let retry_at = now + wait.as_millis() as i64;
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
            kind: "message".into(),
            scan_id: Some(1),
            openid: "o".into(),
            order_id: Some(1),
            payload: None,
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
    fn webhook_retries_wait_four_times_longer_each_time_up_to_an_hour() {
        for (attempt, base) in [
            (1, 1000),
            (2, 4000),
            (3, 16_000),
            (6, 1_024_000),
            (7, 3_600_000),
            (30, 3_600_000),
        ] {
            let ms = webhook_backoff(attempt).as_millis() as u64;
            assert!(
                ms >= base && ms <= base + base / 10,
                "attempt {attempt}: {ms} ms"
            );
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
