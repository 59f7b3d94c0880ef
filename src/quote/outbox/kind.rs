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
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Webhook => "webhook",
        }
    }

    /// The kind stored as `text`; `None` for one this build does not know (a newer
    /// instance's), which it then leaves alone.
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "message" => Some(Kind::Message),
            "webhook" => Some(Kind::Webhook),
            _ => None,
        }
    }
}
