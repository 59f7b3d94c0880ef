//! The QR codes this service asked WeChat for, of every kind, and what a scan of each
//! points at.
//!
//! Every code is registered by its ticket ([`registry`]): a push is resolved by the
//! `Ticket` it carries, so codes of different kinds that share a scene value never
//! collide. Kinds: an order's temporary code ([`tickets`]), reused while it has life
//! left; a channel code ([`channel`], 渠道码: a named code, permanent or for a while,
//! that credits who brought each follower, tags them and answers them).
//! Permanent codes of any kind are made in one place ([`permanent`]), which keeps count
//! of the account's 100,000.
//!
//! To add a kind of code: a variant of [`CodeKind`], a module that creates its codes
//! (through [`permanent`] if they are permanent), and an arm in `scans::resolve` for
//! what its scan does.

pub mod channel;
pub mod permanent;
pub mod registry;
pub mod tickets;

/// What a registered code was made for (the registry's `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// An order's temporary code; the registry's target is the order id.
    Order,
    /// A channel code; the target is its id in `channel_codes`. (Promoter codes and
    /// scene replies, kinds `promoter` and `reply`, became channel codes in migration
    /// 10.)
    Channel,
}

impl CodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeKind::Order => "order",
            CodeKind::Channel => "channel",
        }
    }

    /// The kind stored as `text`; `None` for a kind this build does not know.
    pub fn parse(text: &str) -> Option<CodeKind> {
        match text {
            "order" => Some(CodeKind::Order),
            "channel" => Some(CodeKind::Channel),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_itself() {
        for kind in [CodeKind::Order, CodeKind::Channel] {
            assert_eq!(CodeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(CodeKind::parse("coupon"), None);
    }
}
