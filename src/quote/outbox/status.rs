//! Where a message stands, and every way it moves.
//!
//! ```text
//!            claim (claims.rs)           outcome (outcomes.rs)
//! pending ───────────────────▶ sending ───────────────────────▶ sent
//!    ▲                           │  │
//!    │  transient, in time       │  └──────────────────────────▶ failed
//!    └───────────────────────────┘     permanent, or too late      │
//!    ▲                                                             │
//!    └─────────────── retried by hand, within the minute (views.rs)┘
//! ```
//! A scan writes its message `pending`, or `sending` already claimed when the worker
//! has room for it, or `sent` when the card went back as the passive reply
//! (enqueue.rs). A `sending` message whose lease ran out (its instance died) is due
//! again and is claimed like a `pending` one (claims.rs). Under the at-most-once
//! guarantee (retry.rs) such a message, and one whose send got no answer, is `unknown`
//! instead: it may have reached the shopper, so only the owner resends it (views.rs).

/// A message's status, as the `deliveries.status` column stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for its (next) attempt.
    Pending,
    /// Claimed by a worker, its lease running.
    Sending,
    /// WeChat took it.
    Sent,
    /// Given up on: WeChat refused it for good, or its minute passed.
    Failed,
    /// At most once: it may or may not have reached the shopper, and is not sent again
    /// unless the owner says so.
    Unknown,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Sending,
        Status::Sent,
        Status::Failed,
        Status::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Unknown => "unknown",
        }
    }

    /// What the site owner reads.
    pub fn zh(self) -> &'static str {
        match self {
            Status::Pending => "等待发送",
            Status::Sending => "发送中",
            Status::Sent => "已发送",
            Status::Failed => "失败",
            Status::Unknown => "状态不明",
        }
    }

    /// The status stored as `text`.
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_as_itself() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("lost"), None);
    }
}
