//! How an order is seen: by the shop's server (the API's [`OrderView`]), by people (the
//! pages' [`Figure`]s, values in words), and by the message card (its template's
//! variables, in `card`).

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use url::Url;

use super::schema::FieldType;
use super::values::{self, Item};
use super::{FieldValue, Order};
use crate::quote::money;

/// An order as the API gives it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    /// Internal; no public address takes it.
    pub id: i64,
    /// Opaque and unguessable: what the shopper's page and code are addressed by.
    pub token: String,
    pub external_id: Option<String>,
    /// Each field's value by name, as exact text (money with two decimals).
    pub fields: BTreeMap<String, String>,
    pub items: Vec<Item>,
    /// The shopper's page.
    pub page_url: String,
    /// The code's JSON: `{ticket, url, expire_seconds, expires_at, image_url, svg_url}`.
    pub qrcode_url: String,
    pub created_at: String,
}

impl OrderView {
    pub fn of(order: &Order, base_url: &Url) -> Self {
        OrderView {
            id: order.id,
            token: order.token.clone(),
            external_id: order.external_id.clone(),
            fields: order
                .fields
                .iter()
                .map(|f| (f.name.clone(), f.value.clone()))
                .collect(),
            items: order.items.clone(),
            page_url: page_url(order, base_url),
            qrcode_url: format!("{base_url}api/orders/{}/qrcode", order.token),
            created_at: Utc
                .timestamp_millis_opt(order.created_at_ms)
                .single()
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
        }
    }
}

/// The shopper's page of an order.
pub fn page_url(order: &Order, base_url: &Url) -> String {
    format!("{base_url}orders/{}", order.token)
}

/// One figure of an order as people read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figure {
    pub name: String,
    pub label: String,
    pub value: String,
    /// What follows the value when people read it (` 元` for money).
    pub unit: &'static str,
    /// A figure the service worked out from others (the article's building area), not
    /// one the shop gave.
    pub derived: bool,
}

fn number(order: &Order, name: &str, kinds: &[FieldType]) -> Option<Decimal> {
    order
        .field(name)
        .filter(|f| kinds.contains(&f.kind))
        .and_then(|f| values::number(&f.value))
}

/// The article's own figures, worked out when the order has what they come from: the
/// market price (our price plus the saving) and the building area (room area × 1.25,
/// whole square metres).
pub fn derived(order: &Order) -> Vec<Figure> {
    let mut out = Vec::new();
    let money = [FieldType::Money];
    if let (Some(total), Some(saved)) = (
        number(order, "total_money", &money),
        number(order, "saved_money", &money),
    ) {
        out.push(Figure {
            name: "market_money".into(),
            label: "市场价".into(),
            value: money::plain(total + saved),
            unit: " 元",
            derived: true,
        });
    }
    let measures = [FieldType::Decimal, FieldType::Integer, FieldType::Money];
    if let Some(area) = number(order, "room_area", &measures) {
        let building = money::round_to_whole(area * Decimal::new(125, 2));
        out.push(Figure {
            name: "building_area".into(),
            label: "建筑面积（㎡）".into(),
            value: building.normalize().to_string(),
            unit: "",
            derived: true,
        });
    }
    out
}

/// A field's figure for people.
pub fn figure(f: &FieldValue) -> Figure {
    Figure {
        name: f.name.clone(),
        label: f.label.clone(),
        value: values::display(f.kind, &f.value),
        unit: if f.kind == FieldType::Money {
            " 元"
        } else {
            ""
        },
        derived: false,
    }
}

/// The order in one line, for page titles and share cards: the article's "110㎡ 仅需
/// 12800 元" when it has those figures, else its first money field (or first field).
pub fn headline(order: &Order) -> String {
    let all = figures(order);
    let find = |name: &str| all.iter().find(|f| f.name == name);
    if let (Some(area), Some(total)) = (find("building_area"), find("total_money")) {
        return format!("{}㎡ 仅需 {} 元", area.value, total.value);
    }
    all.iter()
        .find(|f| f.unit == " 元")
        .or(all.first())
        .map(|f| format!("{}：{}{}", f.label, f.value, f.unit))
        .unwrap_or_default()
}

/// Every figure of the order for people: its fields in the schema's order, then the
/// derived ones.
pub fn figures(order: &Order) -> Vec<Figure> {
    order
        .fields
        .iter()
        .map(figure)
        .chain(derived(order))
        .collect()
}

/// An item line for people (money without needless decimals).
#[derive(Debug, Clone, Serialize)]
pub struct ItemLine {
    pub name: String,
    pub quantity: String,
    pub unit_price: String,
    pub amount: String,
}

pub fn item_lines(order: &Order) -> Vec<ItemLine> {
    order
        .items
        .iter()
        .map(|i| ItemLine {
            name: i.name.clone(),
            quantity: i.quantity.clone(),
            unit_price: values::display(FieldType::Money, &i.unit_price),
            amount: values::display(FieldType::Money, &i.amount),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quote::orders::input::read_json;
    use crate::quote::orders::schema::default_schema;

    fn order(body: &str) -> Order {
        let new = read_json(body.as_bytes(), &default_schema()).unwrap();
        Order {
            id: 1,
            token: "t".into(),
            site_key_id: None,
            external_id: None,
            fields: new.fields,
            items: new.items,
            created_at_ms: 0,
        }
    }

    #[test]
    fn the_articles_figures_are_worked_out_as_it_does() {
        let o = order(r#"{"total_money": 12800, "saved_money": "3200.50", "room_area": 88}"#);
        let shown: Vec<(String, String)> =
            figures(&o).into_iter().map(|f| (f.name, f.value)).collect();
        assert_eq!(
            shown,
            [
                ("total_money".into(), "12800".into()),
                ("saved_money".into(), "3200.50".into()),
                ("room_area".into(), "88".into()),
                ("market_money".into(), "16000.50".into()),
                ("building_area".into(), "110".into()),
            ]
        );
        // 88.5 × 1.25 = 110.625 → 111; 88.2 × 1.25 = 110.25 → 110
        let o = order(r#"{"total_money": 1, "saved_money": 0, "room_area": 88.5}"#);
        assert_eq!(derived(&o)[1].value, "111");
        let o = order(r#"{"total_money": 1, "saved_money": 0, "room_area": 88.2}"#);
        assert_eq!(derived(&o)[1].value, "110");
    }
}
