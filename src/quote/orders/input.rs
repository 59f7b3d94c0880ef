//! An order as the shop's server sends it: `{"external_id", "fields": {…}, "items":
//! […]}`, read against the schema in force. Every value is read exactly by its type;
//! every refusal names the field, in Chinese. A field of the schema may also stand at
//! the top level of the body (`{"total_money": 12800, …}`, the body of the article's
//! API), meaning the same as inside `fields`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use serde_json::value::RawValue;

use super::schema::{FieldDef, FieldType, Schema};
use super::values::{self, Item, Sent, ValueError};
use crate::AppError;
use crate::quote::money;

/// Lines an order may have at most.
pub const MAX_ITEMS: usize = 100;

/// A field's value with the schema entry it was read by: what an order stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldValue {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    pub value: String,
}

/// A validated order, not yet stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub external_id: Option<String>,
    /// In the schema's order; optional fields left out are absent.
    pub fields: Vec<FieldValue>,
    pub items: Vec<Item>,
}

/// Why an order was refused: which field (its name as sent) and why, in Chinese.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InputError {
    /// `None`: the body as a whole.
    pub field: Option<String>,
    pub reason: String,
}

impl From<InputError> for AppError {
    fn from(e: InputError) -> Self {
        AppError::BadRequest {
            field: e.field,
            reason: e.reason,
        }
    }
}

fn refuse(field: &str, reason: impl Into<String>) -> InputError {
    InputError {
        field: Some(field.to_owned()),
        reason: reason.into(),
    }
}

fn refuse_value(def: &FieldDef, why: ValueError) -> InputError {
    refuse(&def.name, format!("{}（{}）{why}", def.label, def.name))
}

/// A JSON value as the shop sent it: `None` for `null`.
enum Raw<'a> {
    Number(&'a str),
    Text(String),
    Other,
}

fn raw(value: &RawValue) -> Option<Raw<'_>> {
    let text = value.get().trim();
    if text == "null" {
        None
    } else if text.starts_with('"') {
        Some(
            serde_json::from_str::<String>(text)
                .map(Raw::Text)
                .unwrap_or(Raw::Other),
        )
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(Raw::Number(text))
    } else {
        Some(Raw::Other)
    }
}

/// Reads an order body against `schema`.
pub fn read_json(body: &[u8], schema: &Schema) -> Result<NewOrder, InputError> {
    let mut body: BTreeMap<String, &RawValue> =
        serde_json::from_slice(body).map_err(|e| InputError {
            field: None,
            reason: format!("请求体必须是 JSON 对象（{e}）"),
        })?;
    let given_id = body.remove("external_id");
    let given_items = body.remove("items");
    let mut sent: BTreeMap<String, &RawValue> = match body
        .remove("fields")
        .and_then(|f| (f.get().trim() != "null").then_some(f))
    {
        None => BTreeMap::new(),
        Some(f) => serde_json::from_str(f.get())
            .map_err(|_| refuse("fields", "fields 必须是对象：{\"字段名\": 值}"))?,
    };
    for (name, value) in body {
        if !schema.iter().any(|f| f.name == name) {
            return Err(refuse(&name, format!("没有 {name} 这个字段")));
        }
        if sent.insert(name.clone(), value).is_some() {
            return Err(refuse(
                &name,
                format!("{name} 既在顶层又在 fields 里，只能给一次"),
            ));
        }
    }
    let external_id = match given_id.and_then(raw) {
        None => None,
        Some(Raw::Text(t)) => Some(external_id(&t)?),
        Some(_) => return Err(refuse("external_id", "external_id 必须是字符串")),
    };
    let fields = read_fields(schema, |name| match sent.remove(name).and_then(raw) {
        None => Ok(None),
        Some(Raw::Number(n)) => Ok(Some(Text::Number(n))),
        Some(Raw::Text(t)) => Ok(Some(Text::Owned(t))),
        Some(Raw::Other) => Err(()),
    })?;
    if let Some(name) = sent.keys().next() {
        return Err(refuse(name, format!("没有 {name} 这个字段")));
    }
    let items = match given_items {
        None => Vec::new(),
        Some(raw) if raw.get().trim() == "null" => Vec::new(),
        Some(raw) => read_items(raw)?,
    };
    Ok(NewOrder {
        external_id,
        fields,
        items,
    })
}

/// Reads an order from a form's fields (the demo shop's page): every value is text, and
/// an empty one is left out.
pub fn read_form(form: &BTreeMap<String, String>, schema: &Schema) -> Result<NewOrder, InputError> {
    let fields = read_fields(schema, |name| {
        Ok(form
            .get(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| Text::Owned(v.clone())))
    })?;
    Ok(NewOrder {
        external_id: None,
        fields,
        items: Vec::new(),
    })
}

enum Text<'a> {
    Number(&'a str),
    Owned(String),
}

/// Every field of the schema, read from what `get` finds for its name (`Err`: a value
/// of the wrong JSON type).
fn read_fields<'a>(
    schema: &Schema,
    mut get: impl FnMut(&str) -> Result<Option<Text<'a>>, ()>,
) -> Result<Vec<FieldValue>, InputError> {
    let mut fields = Vec::with_capacity(schema.len());
    for def in schema {
        let sent = match get(&def.name) {
            Ok(sent) => sent,
            Err(()) => return Err(refuse_value(def, ValueError::WrongType(def.kind))),
        };
        let value = match &sent {
            None if def.required => {
                return Err(refuse(
                    &def.name,
                    format!("{}（{}）不能为空", def.label, def.name),
                ));
            }
            None => continue,
            Some(Text::Number(n)) => values::read(def.kind, Sent::Number(n)),
            Some(Text::Owned(t)) => values::read(def.kind, Sent::Text(t)),
        }
        .map_err(|why| refuse_value(def, why))?;
        fields.push(FieldValue {
            name: def.name.clone(),
            label: def.label.clone(),
            kind: def.kind,
            value,
        });
    }
    Ok(fields)
}

fn external_id(text: &str) -> Result<String, InputError> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > 64 || t.chars().any(char::is_control) {
        return Err(refuse(
            "external_id",
            "external_id 须为 1 到 64 个可打印字符",
        ));
    }
    Ok(t.to_owned())
}

#[derive(Deserialize)]
struct SentItem<'a> {
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    quantity: Option<&'a RawValue>,
    #[serde(borrow)]
    unit_price: Option<&'a RawValue>,
    #[serde(borrow)]
    amount: Option<&'a RawValue>,
}

fn read_items(raw: &RawValue) -> Result<Vec<Item>, InputError> {
    let sent: Vec<SentItem> = serde_json::from_str(raw.get()).map_err(|_| {
        refuse(
            "items",
            "items 必须是数组，每行是 {name, quantity, unit_price, amount}",
        )
    })?;
    if sent.len() > MAX_ITEMS {
        return Err(refuse("items", format!("items 最多 {MAX_ITEMS} 行")));
    }
    sent.iter()
        .enumerate()
        .map(|(i, item)| read_item(i + 1, item))
        .collect()
}

fn read_item(line: usize, item: &SentItem) -> Result<Item, InputError> {
    let at = |what: &str, why: String| refuse("items", format!("items 第 {line} 行的 {what}{why}"));
    let figure =
        |what: &str, value: Option<&RawValue>, max_scale: u32| -> Result<Decimal, InputError> {
            let text = match value.and_then(raw) {
                None => return Err(at(what, "不能为空".into())),
                Some(Raw::Number(n)) => n.to_owned(),
                Some(Raw::Text(t)) => t,
                Some(Raw::Other) => return Err(at(what, "必须是数字".into())),
            };
            money::parse_decimal(&text, max_scale).map_err(|e| at(what, e.zh()))
        };
    let name = match item.name.and_then(raw) {
        Some(Raw::Text(t)) => values::read(FieldType::Text, Sent::Text(&t))
            .map_err(|why| at("name", why.to_string()))?,
        _ => return Err(at("name", "必须是文字".into())),
    };
    let quantity = figure("quantity", item.quantity, 4)?;
    if quantity.is_zero() {
        return Err(at("quantity", "必须大于零".into()));
    }
    let unit_price = figure("unit_price", item.unit_price, 2)?;
    let amount = figure("amount", item.amount, 2)?;
    let expected = (quantity * unit_price)
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    if amount != expected {
        return Err(at(
            "amount",
            format!(
                "应为数量 × 单价 = {}，收到 {}",
                money::fixed(expected),
                money::fixed(amount)
            ),
        ));
    }
    Ok(Item {
        name,
        quantity: quantity.normalize().to_string(),
        unit_price: money::fixed(unit_price),
        amount: money::fixed(amount),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quote::orders::schema::default_schema;

    fn err(body: &str) -> (Option<String>, String) {
        match read_json(body.as_bytes(), &default_schema()) {
            Err(e) => (e.field, e.reason),
            Ok(o) => panic!("{body}: accepted {o:?}"),
        }
    }

    #[test]
    fn the_articles_body_reads_at_the_top_level_or_inside_fields() {
        let top = read_json(
            br#"{"total_money": 12800, "saved_money": "3200.5", "room_area": 88}"#,
            &default_schema(),
        )
        .unwrap();
        let inside = read_json(
            br#"{"fields": {"total_money": "12800", "saved_money": 3200.50, "room_area": "88.0"}}"#,
            &default_schema(),
        )
        .unwrap();
        assert_eq!(top, inside);
        let values: Vec<&str> = top.fields.iter().map(|f| f.value.as_str()).collect();
        assert_eq!(values, ["12800.00", "3200.50", "88"]);
    }

    #[test]
    fn refusals_name_the_field_in_chinese() {
        let (field, reason) = err(r#"{"saved_money": 1, "room_area": 1}"#);
        assert_eq!(field.as_deref(), Some("total_money"));
        assert!(reason.contains("不能为空"), "{reason}");
        let (field, reason) = err(r#"{"total_money": 1.005, "saved_money": 1, "room_area": 1}"#);
        assert_eq!(field.as_deref(), Some("total_money"));
        assert!(reason.contains("最多保留 2 位小数"), "{reason}");
        let (field, reason) =
            err(r#"{"total_money": 1, "saved_money": 1, "room_area": 1, "colour": "red"}"#);
        assert_eq!(field.as_deref(), Some("colour"));
        assert!(reason.contains("没有 colour 这个字段"), "{reason}");
        let (field, _) =
            err(r#"{"fields": {"total_money": true}, "saved_money": 1, "room_area": 1}"#);
        assert_eq!(field.as_deref(), Some("total_money"));
        let (field, _) = err(
            r#"{"total_money": 1, "fields": {"total_money": 1}, "saved_money": 1, "room_area": 1}"#,
        );
        assert_eq!(field.as_deref(), Some("total_money"));
        let (field, _) =
            err(r#"{"external_id": "", "total_money": 1, "saved_money": 1, "room_area": 1}"#);
        assert_eq!(field.as_deref(), Some("external_id"));
        let (field, _) = err("[1]");
        assert_eq!(field, None);
    }

    #[test]
    fn item_amounts_must_be_quantity_times_unit_price() {
        let body = |amount: &str| {
            format!(
                r#"{{"total_money": 1, "saved_money": 0, "room_area": 1,
                   "items": [{{"name": "地板", "quantity": "2.5", "unit_price": "99.90", "amount": {amount}}}]}}"#
            )
        };
        let ok = read_json(body("249.75").as_bytes(), &default_schema()).unwrap();
        assert_eq!(ok.items[0].amount, "249.75");
        let (field, reason) = err(&body("250"));
        assert_eq!(field.as_deref(), Some("items"));
        assert!(
            reason.contains("第 1 行") && reason.contains("249.75"),
            "{reason}"
        );
    }
}
