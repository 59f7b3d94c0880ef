//! The quote domain: orders and their figures, the QR codes that point at them (and at
//! channel codes), scans turned into queued messages, the outbox that
//! sends them, the message card's template, signed quote links and cached profiles.
//! It knows nothing of HTTP: the handlers, the outbox worker and the sandbox's callers
//! all reach it through one [`Domain`] value.
//!
//! Data flows: an order is created ([`orders`]) → its page asks for a ticket
//! ([`codes::tickets`]) → WeChat pushes a scan, which [`scans`] resolves by its ticket
//! ([`codes::registry`]) and records together with a queued message in one
//! transaction ([`outbox`]) → the outbox worker renders the [`card`] with a signed
//! [`links`] URL and sends it → the shopper opens the quote page ([`profiles`],
//! [`authorization`]). The shop's server creates orders with a [`site_keys`] key and
//! hears back through its [`webhooks`]. [`settings`] holds the site owner's choices
//! (the delivery mode), [`money`] the exact amounts.

pub mod authorization;
pub mod card;
pub mod codes;
pub mod links;
pub mod money;
pub mod orders;
pub mod outbox;
pub mod profiles;
pub mod scans;
pub mod settings;
pub mod shop;
pub mod site_keys;
pub mod sweeper;
pub mod webhooks;

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use url::Url;

use crate::metrics::Metrics;
use crate::wechat::WechatClient;

/// Everything the domain's operations need, shared by every request and the worker.
/// Cloned per request, so it is one reference-counted pointer.
#[derive(Clone)]
pub struct Domain(Arc<Parts>);

impl std::ops::Deref for Domain {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// What [`Domain`] points to. Each part owns its own storage and cache; what crosses
/// parts (a scan, a send) is done by the modules that take the whole [`Domain`].
pub struct Parts {
    /// The shared pool, for reads and the occasional write off the hot paths.
    pub db: DatabaseConnection,
    pub wechat: WechatClient,
    pub links: links::LinkSigner,
    /// Where links in messages point: `PUBLIC_BASE_URL`, or the bound address.
    pub base_url: Url,
    /// Where web authorization starts: WeChat's, or the sandbox's.
    pub oauth_base: Url,
    /// Identifies this process in claims, so a claim can be traced to its instance.
    pub instance_id: String,
    pub metrics: Arc<Metrics>,
    pub orders: orders::Orders,
    /// The order's fields, as the site owner defines them.
    pub schemas: orders::schema::Schemas,
    pub site_keys: site_keys::SiteKeys,
    pub webhooks: webhooks::Webhooks,
    pub registry: codes::registry::Registry,
    pub tickets: codes::tickets::Tickets,
    pub cards: card::Cards,
    pub profiles: profiles::Profiles,
    pub delivery_mode: settings::DeliveryModes,
    /// Whose shop this is, as the pages show it.
    pub shop: shop::Shops,
    pub outbox: outbox::Outbox,
    /// What a message whose outcome is unknown gets: sent again, or left to the owner.
    pub guarantee: outbox::retry::Guarantee,
}

/// Beijing time (UTC+8, no daylight saving): the day a shop lives by, for every date
/// and time the domain and the pages show.
pub fn beijing() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("a constant offset")
}

impl Domain {
    pub fn new(parts: Parts) -> Self {
        Domain(Arc::new(parts))
    }
}
