//! An order as the pages show it, and the shop whose order it is.

use chrono::{FixedOffset, TimeZone};
use minijinja::context;

use crate::quote::orders::Order;
use crate::quote::orders::view::{figures, headline, item_lines};
use crate::quote::shop::Shop;

/// The order's figures as people read them (Beijing dates, plain amounts with their
/// units), its items and its one-line headline.
pub fn order_context(order: &Order) -> minijinja::Value {
    let china = FixedOffset::east_opt(8 * 3600).expect("constant offset");
    let date = china
        .timestamp_millis_opt(order.created_at_ms)
        .single()
        .map(|t| t.format("%Y年%-m月%-d日").to_string())
        .unwrap_or_default();
    context! {
        id => order.id,
        token => order.token,
        external_id => order.external_id,
        figures => figures(order),
        items => item_lines(order),
        headline => headline(order),
        date => date,
    }
}

/// The shop as the shopper's pages show it (`None` before the owner has said): its
/// name, logo, address, the phone and its `tel:` target, the booking page.
pub fn shop_context(shop: &Option<Shop>) -> Option<minijinja::Value> {
    shop.as_ref().map(|s| {
        context! {
            name => s.name, logo_url => s.logo_url, phone => s.phone, tel => s.tel(),
            address => s.address, booking_url => s.booking_url,
        }
    })
}

/// The 404 page a shopper's link that leads nowhere gets, with the shop's name and phone.
pub async fn not_found(
    domain: &crate::quote::Domain,
    web: &crate::http::web::Web,
) -> Result<axum::response::Response, crate::AppError> {
    let shop = domain.shop.current().await?;
    Ok(web.pages.not_found(shop_context(&shop)))
}
