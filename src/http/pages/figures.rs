//! An order's figures as the pages print them.

use chrono::{FixedOffset, TimeZone};
use minijinja::context;

use crate::quote::orders::{self, OrderView};

/// The order's figures as people read them (Beijing dates, plain amounts), plus the API
/// view.
pub fn figures(order: &entity::order::Model) -> minijinja::Value {
    let china = FixedOffset::east_opt(8 * 3600).expect("constant offset");
    let date = china
        .timestamp_millis_opt(order.created_at_ms)
        .single()
        .map(|t| t.format("%Y年%m月%d日").to_string())
        .unwrap_or_default();
    context! {
        api => OrderView::of(order),
        id => order.id,
        total_money => orders::plain(order.total_cents),
        saved_money => orders::plain(order.saved_cents),
        market_money => orders::plain(orders::market_cents(order)),
        room_area => orders::plain(order.room_area_centi),
        building_area => orders::building_area(order),
        date => date,
    }
}
