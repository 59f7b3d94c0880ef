//! The retry policy: what a send's outcome does to its delivery, by kind.
//!
//! Messages: WeChat accepts customer-service messages for one minute after a scan
//! ([`WINDOW_MS`] keeps a margin); after it, it answers 45015. So a transient failure
//! (network, timeout, HTTP 5xx, "system busy", a token that needed a refresh) is
//! retried with capped exponential backoff and jitter, but only while the retry still
//! lands inside that minute; past it, or on a permanent error, the message is failed
//! with WeChat's errcode and errmsg (or our own reason), for the site owner to read.
//!
//! What "transient" may do depends on the operator's [`Guarantee`]. WeChat's send API
//! has no idempotency key, so a send whose request left but whose answer never came
//! (or whose instance died before recording it) may or may not have reached the
//! shopper. At least once (the default) sends it again; at most once marks it
//! [`Status::Unknown`](super::Status::Unknown) for the owner to resend by hand, and
//! retries only failures that prove WeChat did not take it (no connection, an errcode,
//! HTTP 5xx).
//!
//! Tags: the same user tagged twice is tagged once, so an unanswered try is simply
//! tried again, on the webhook's schedule, for a day; a tag never ends unknown.
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
/// How long a tag is tried: tagging the same user twice does no harm, so as long as a
/// webhook event, on the same schedule.
pub const TAG_WINDOW_MS: i64 = WEBHOOK_WINDOW_MS;
/// The longest wait between two tries of a webhook event.
const WEBHOOK_MAX_WAIT_MS: i64 = 60 * 60 * 1000;

/// What the outbox promises when a send's outcome is unknown (`DELIVERY_GUARANTEE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Guarantee {
    /// Send it again: a shopper may get a card twice, never none.
    #[default]
    AtLeastOnce,
    /// Never send it again on our own: a shopper may get none, never two.
    AtMostOnce,
}

impl Guarantee {
    pub fn parse(text: &str) -> Option<Guarantee> {
        match text {
            "at-least-once" => Some(Guarantee::AtLeastOnce),
            "at-most-once" => Some(Guarantee::AtMostOnce),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Guarantee::AtLeastOnce => "at-least-once",
            Guarantee::AtMostOnce => "at-most-once",
        }
    }
}

/// Why a send did not succeed.
#[derive(Debug)]
pub enum Failure {
    Wechat(WechatError),
    Webhook(WebhookRefused),
    /// Something on our side that retrying will not fix.
    Local(LocalFailure),
    /// At most once: the message's last attempt was cut off by its instance's end,
    /// outcome unrecorded; it is not attempted again.
    Interrupted,
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
    #[error("一天之内都没能给这位用户打上标签")]
    TagDayPassed,
    #[error("这条{0}的内容无法读取")]
    Unreadable(&'static str),
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
    /// At most once: it may have reached the shopper, so it is not sent again.
    Unknown {
        errmsg: String,
    },
}

/// The reason an unknown outcome records, for the owner who decides whether to resend.
pub const UNKNOWN_AFTER_NO_ANSWER: &str = "发送后没有收到微信的答复，无法确认是否送达";
pub const UNKNOWN_AFTER_INTERRUPTION: &str = "发送时服务中断，无法确认是否送达";

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
pub fn decide(
    d: &delivery::Model,
    outcome: &Result<(), Failure>,
    guarantee: Guarantee,
    now: i64,
) -> Change {
    let kind = super::Kind::parse(&d.kind);
    let is_message = kind.is_some_and(super::Kind::is_message);
    let (errcode, errmsg, transient) = match outcome {
        Ok(()) => return Change::Sent,
        Err(Failure::Wechat(WechatError::Unanswered { reason }))
            if guarantee == Guarantee::AtMostOnce && is_message =>
        {
            tracing::warn!(
                delivery = d.id,
                reason,
                "no answer to a send: its outcome is unknown"
            );
            return Change::Unknown {
                errmsg: UNKNOWN_AFTER_NO_ANSWER.into(),
            };
        }
        Err(Failure::Interrupted) if is_message => {
            return Change::Unknown {
                errmsg: UNKNOWN_AFTER_INTERRUPTION.into(),
            };
        }
        // A tag or an event cut off by its instance's end is simply tried again.
        Err(Failure::Interrupted) => (None, UNKNOWN_AFTER_INTERRUPTION.into(), true),
        Err(Failure::Local(reason)) => (None, reason.to_string(), false),
        Err(Failure::Webhook(refused)) => (None, refused.to_string(), true),
        Err(Failure::Wechat(e)) => (
            e.errcode().and_then(|c| i32::try_from(c).ok()),
            e.errmsg(),
            e.is_transient(),
        ),
    };
    let wait = if is_message {
        backoff(d.attempts as u32)
    } else {
        webhook_backoff(d.attempts as u32)
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
            decide(&message(1, 60_000), &busy(), Guarantee::AtLeastOnce, 0),
            Change::Retry {
                errcode: Some(-1),
                ..
            }
        ));
        assert!(matches!(
            decide(&message(1, 100), &busy(), Guarantee::AtLeastOnce, 0),
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
            decide(&message(1, 60_000), &refused, Guarantee::AtLeastOnce, 0),
            Change::Fail {
                errcode: Some(40003),
                errmsg: "invalid openid".into(),
                reason: "40003".into()
            }
        );
        assert_eq!(
            decide(&message(1, 0), &Ok(()), Guarantee::AtLeastOnce, 0),
            Change::Sent
        );
    }

    #[test]
    fn an_unanswered_send_is_retried_at_least_once_and_left_alone_at_most_once() {
        let unanswered = || {
            Err(Failure::Wechat(WechatError::Unanswered {
                reason: "timeout".into(),
            }))
        };
        assert!(matches!(
            decide(
                &message(1, 60_000),
                &unanswered(),
                Guarantee::AtLeastOnce,
                0
            ),
            Change::Retry { .. }
        ));
        assert_eq!(
            decide(&message(1, 60_000), &unanswered(), Guarantee::AtMostOnce, 0),
            Change::Unknown {
                errmsg: UNKNOWN_AFTER_NO_ANSWER.into()
            }
        );
        // A busy WeChat answered: it did not take the message, so even at most once
        // the message is tried again.
        let busy = Err(Failure::Wechat(WechatError::Retry {
            errcode: Some(-1),
            reason: "system busy".into(),
        }));
        assert!(matches!(
            decide(&message(1, 60_000), &busy, Guarantee::AtMostOnce, 0),
            Change::Retry { .. }
        ));
    }
}
