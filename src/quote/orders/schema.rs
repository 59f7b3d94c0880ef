//! The order's fields, as the site owner defines them: a list of
//! `{name, label, type, required}` kept in the settings. Every order is read against
//! the schema in force when it is made, and keeps a copy of it, so later edits change
//! no quote already given.
//!
//! The default is the article's three figures, so the demo shop and an order body with
//! `total_money`, `saved_money` and `room_area` work without any setup.

use std::sync::Arc;
use std::time::Duration;

use entity::setting;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait, Set};
use serde::{Deserialize, Serialize};

use crate::AppError;
use crate::fresh::Fresh;

const SETTING_KEY: &str = "order_fields";
/// Fields an order may have at most.
pub const MAX_FIELDS: usize = 30;
/// Names the message template and the pages already give a meaning to.
const RESERVED: [&str; 16] = [
    "order_id",
    "openid",
    "quote_url",
    "base_url",
    "external_id",
    "items",
    "fields",
    "market_money",
    "building_area",
    "shop",
    "date",
    "loop",
    "range",
    "dict",
    "namespace",
    "debug",
];

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Up to 500 characters of text.
    Text,
    /// Yuan, at most two decimals, not negative.
    Money,
    /// A number with at most four decimals, not negative.
    Decimal,
    /// A whole number, not negative.
    Integer,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
}

impl FieldType {
    pub fn zh(self) -> &'static str {
        match self {
            FieldType::Text => "文本",
            FieldType::Money => "金额",
            FieldType::Decimal => "小数",
            FieldType::Integer => "整数",
            FieldType::Date => "日期",
        }
    }
}

/// One field of the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldDef {
    /// What the shop's server sends and templates use: `a`–`z`, digits and `_`,
    /// starting with a letter, at most 32.
    pub name: String,
    /// What people read (the quote page, the console), 1 to 32 characters.
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    #[serde(default)]
    pub required: bool,
}

/// The schema's fields, in the order pages show them.
pub type Schema = Vec<FieldDef>;

/// The article's three figures.
pub fn default_schema() -> Schema {
    let field = |name: &str, label: &str, kind| FieldDef {
        name: name.into(),
        label: label.into(),
        kind,
        required: true,
    };
    vec![
        field("total_money", "报价", FieldType::Money),
        field("saved_money", "节省金额", FieldType::Money),
        field("room_area", "套内面积（㎡）", FieldType::Decimal),
    ]
}

/// Checks a schema the owner sent; the refusal names the field (by its place in the
/// list and its name) in Chinese.
pub fn check(schema: &Schema) -> Result<(), AppError> {
    if schema.is_empty() {
        return Err(AppError::bad_field("fields", "至少需要一个字段"));
    }
    if schema.len() > MAX_FIELDS {
        return Err(AppError::bad_field(
            "fields",
            format!("最多 {MAX_FIELDS} 个字段"),
        ));
    }
    for (i, f) in schema.iter().enumerate() {
        let at = format!("第 {} 个字段", i + 1);
        let name_ok = f.name.len() <= 32
            && f.name.starts_with(|c: char| c.is_ascii_lowercase())
            && f.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Err(AppError::bad_field(
                "name",
                format!(
                    "{at}的名称「{}」只能用小写字母、数字和下划线，以字母开头，最多 32 个字符",
                    f.name
                ),
            ));
        }
        if RESERVED.contains(&f.name.as_str()) {
            return Err(AppError::bad_field(
                "name",
                format!("{at}的名称「{}」已被模板占用，请换一个", f.name),
            ));
        }
        if schema[..i].iter().any(|g| g.name == f.name) {
            return Err(AppError::bad_field(
                "name",
                format!("字段名称「{}」重复了", f.name),
            ));
        }
        let label = f.label.trim();
        if label.is_empty() || label.chars().count() > 32 || label.chars().any(char::is_control) {
            return Err(AppError::bad_field(
                "label",
                format!("{at}（{}）的显示名称须为 1 到 32 个字符", f.name),
            ));
        }
    }
    Ok(())
}

/// The schema in force, read through a short cache (instances pick up an edit within
/// seconds).
#[derive(Clone)]
pub struct Schemas {
    db: DatabaseConnection,
    cache: Arc<Fresh<Arc<Schema>, Arc<AppError>>>,
}

impl Schemas {
    pub fn new(db: DatabaseConnection) -> Self {
        Schemas {
            db,
            cache: Arc::new(Fresh::new(|_| Duration::from_secs(2))),
        }
    }

    pub async fn current(&self) -> Result<Arc<Schema>, AppError> {
        let read = || async {
            let stored = setting::Entity::find_by_id(SETTING_KEY.to_owned())
                .one(&self.db)
                .await?;
            let schema = match stored {
                Some(s) => serde_json::from_str(&s.value).map_err(|e| {
                    AppError::Internal(anyhow::anyhow!("the stored order fields: {e}"))
                })?,
                None => default_schema(),
            };
            Ok::<_, AppError>(Arc::new(schema))
        };
        self.cache.get_or_load_app(read).await
    }

    /// Checks and stores a new schema; orders made before keep theirs.
    pub async fn set(&self, schema: Schema) -> Result<Arc<Schema>, AppError> {
        let schema: Schema = schema
            .into_iter()
            .map(|f| FieldDef {
                name: f.name.trim().to_owned(),
                label: f.label.trim().to_owned(),
                ..f
            })
            .collect();
        check(&schema)?;
        let value = serde_json::to_string(&schema).expect("a schema serializes");
        setting::Entity::insert(setting::ActiveModel {
            key: Set(SETTING_KEY.into()),
            value: Set(value),
        })
        .on_conflict(
            OnConflict::column(setting::Column::Key)
                .update_column(setting::Column::Value)
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        self.cache.forget();
        Ok(Arc::new(schema))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, label: &str) -> FieldDef {
        FieldDef {
            name: name.into(),
            label: label.into(),
            kind: FieldType::Text,
            required: false,
        }
    }

    #[test]
    fn the_default_schema_passes_its_own_check() {
        assert!(check(&default_schema()).is_ok());
    }

    #[test]
    fn bad_schemas_are_refused_naming_the_field_in_chinese() {
        let refused = |schema: Schema| match check(&schema) {
            Err(AppError::BadRequest { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(refused(vec![]).contains("至少"));
        assert!(refused(vec![field("Destination", "目的地")]).contains("Destination"));
        assert!(refused(vec![field("quote_url", "链接")]).contains("占用"));
        assert!(refused(vec![field("a", "甲"), field("a", "乙")]).contains("重复"));
        assert!(refused(vec![field("a", "")]).contains("显示名称"));
        assert!(refused((0..31).map(|i| field(&format!("f{i}"), "x")).collect()).contains("30"));
    }
}
