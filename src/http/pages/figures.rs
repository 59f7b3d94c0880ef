//! An order as the pages show it.

use chrono::{FixedOffset, TimeZone};
use minijinja::context;

use crate::quote::orders::Order;
use crate::quote::orders::view::{figures, headline, item_lines};

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
