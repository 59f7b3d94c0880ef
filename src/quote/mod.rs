//! The quote domain: orders and their figures, the temporary QR ticket of each order,
//! scans turned into queued messages, the outbox worker that sends them, the message
//! template, signed quote links and cached profiles.
//!
//! Data flows: an order is created ([`orders`]) → its page asks for a ticket
//! ([`tickets`]) → WeChat pushes a scan, which [`scans`] records together with a queued
//! delivery in one transaction → [`delivery`] renders the [`template`] with a signed
//! [`links`] URL and sends it → the shopper opens the quote page ([`profiles`]).

pub mod authorization;
pub mod deliveries;
pub mod delivery;
pub mod handoff;
pub mod journal;
pub mod links;
pub mod mode;
pub mod money;
pub mod orders;
pub mod outcome_rows;
pub mod profiles;
pub mod registry;
pub mod scan_rows;
pub mod scans;
pub mod template;
pub mod template_versions;
pub mod tickets;
