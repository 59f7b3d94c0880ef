//! What a delivery carries, as the `deliveries.kind` column stores it. Every kind goes
//! through the same outbox (durable from the transaction that queued it, claimed with
//! a lease, retried by its kind's policy in `retry`), and `send` dispatches on it.

/// The kind of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A customer-service news card to the shopper who scanned.
    Message,
    /// An event POSTed to the shop's webhook.
    Webhook,
    /// A channel code's answer to its scanner (a text or a news card, rendered when
    /// the scan came, in the payload); a customer-service message like `Message`.
    Reply,
    /// A WeChat tag to put on a channel code's scanner (the tag's name in the payload).
    Tag,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Webhook => "webhook",
            Kind::Reply => "reply",
            Kind::Tag => "tag",
        }
    }

    /// The kind stored as `text`; `None` for one this build does not know (a newer
    /// instance's), which it then leaves alone.
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "message" => Some(Kind::Message),
            "webhook" => Some(Kind::Webhook),
            "reply" => Some(Kind::Reply),
            "tag" => Some(Kind::Tag),
            _ => None,
        }
    }

    /// A customer-service message to the scanner: WeChat's one-minute window applies,
    /// and at most once it may end unknown.
    pub fn is_message(self) -> bool {
        matches!(self, Kind::Message | Kind::Reply)
    }
}
