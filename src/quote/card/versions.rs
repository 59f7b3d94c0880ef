//! Editing the card's template: a new version is checked before it is stored, so a
//! template that does not compile, names a field the order does not have or renders a
//! link that is not http(s) is refused with its part, line and reason while the
//! version in force stays; every version is kept and can be restored (as a new,
//! newest version).

use entity::template;
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{Compiled, Part, TemplateError, TemplateProblem, context_for};
use crate::quote::Domain;
use crate::quote::orders::schema::{FieldType, Schema};
use crate::quote::orders::{FieldValue, Item, Order};
use crate::wechat::message::Article;
use crate::{AppError, now_ms};

/// WeChat cuts news titles at 64 characters and descriptions at 120 in the card; we keep
/// generous limits on the sources and leave the rendered text to WeChat.
pub const MAX_PART_CHARS: usize = 2000;

/// A template as a site owner edits it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TemplateParts {
    pub title: String,
    pub description: String,
    pub pic_url: String,
    pub link: String,
}

impl From<&template::Model> for TemplateParts {
    fn from(t: &template::Model) -> Self {
        TemplateParts {
            title: t.title.clone(),
            description: t.description.clone(),
            pic_url: t.pic_url.clone(),
            link: t.link.clone(),
        }
    }
}

impl TemplateParts {
    fn text(&self, part: Part) -> &str {
        match part {
            Part::Title => &self.title,
            Part::Description => &self.description,
            Part::PicUrl => &self.pic_url,
            Part::Link => &self.link,
        }
    }

    fn as_model(&self) -> template::Model {
        template::Model {
            id: 0,
            title: self.title.clone(),
            description: self.description.clone(),
            pic_url: self.pic_url.clone(),
            link: self.link.clone(),
            created_at_ms: 0,
            origin: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Version {
    pub id: i64,
    pub created_at_ms: i64,
    /// How it came to be: `saved`, `restored:<id>`, `default`, or null (older versions).
    pub origin: Option<String>,
    /// The same, in words: 保存, 从第 3 版恢复, 初始模板.
    pub origin_zh: String,
    #[serde(flatten)]
    pub parts: TemplateParts,
}

impl From<&template::Model> for Version {
    fn from(t: &template::Model) -> Self {
        let origin_zh = match t.origin.as_deref() {
            Some("default") => "初始模板".to_owned(),
            Some(o) if o.starts_with("restored:") => {
                format!("从第 {} 版恢复", o.trim_start_matches("restored:"))
            }
            _ => "保存".to_owned(),
        };
        Version {
            id: t.id,
            created_at_ms: t.created_at_ms,
            origin: t.origin.clone(),
            origin_zh,
            parts: TemplateParts::from(t),
        }
    }
}

/// What a save did.
#[derive(Debug, Clone)]
pub enum Saved {
    /// A new version, now in force.
    New(Version),
    /// The parts are those of the version in force: nothing was stored.
    Unchanged(Version),
}

impl Saved {
    pub fn version(&self) -> &Version {
        match self {
            Saved::New(v) | Saved::Unchanged(v) => v,
        }
    }
}

/// The names a template can use with orders of `schema`, as [`context_for`] gives
/// them: the schema's fields in its order, then the rest (the figures worked out from
/// them, `items`, `quote_url`…) by name. The console lists them.
pub fn usable_names(schema: &Schema, base_url: &Url) -> Vec<String> {
    let context = context_for(&sample_order(schema), "", "", base_url);
    let mut names: Vec<String> = schema.iter().map(|f| f.name.clone()).collect();
    for name in context.try_iter().into_iter().flatten() {
        let name = name.to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// An order of the schema in force to check templates against: every field has a
/// value of its type (the article's own figures for its three), and one item.
pub fn sample_order(schema: &Schema) -> Order {
    let fields = schema
        .iter()
        .map(|f| FieldValue {
            name: f.name.clone(),
            label: f.label.clone(),
            kind: f.kind,
            value: match (f.name.as_str(), f.kind) {
                ("total_money", FieldType::Money) => "12800.00".into(),
                ("saved_money", FieldType::Money) => "3200.50".into(),
                ("room_area", _) => "88".into(),
                (_, FieldType::Money) => "1000.00".into(),
                (_, FieldType::Decimal | FieldType::Integer) => "1".into(),
                (_, FieldType::Date) => chrono::Utc::now().format("%Y-%m-%d").to_string(),
                (_, FieldType::Text) => f.label.clone(),
            },
        })
        .collect();
    Order {
        id: 1,
        token: "preview".into(),
        site_key_id: None,
        external_id: Some("PREVIEW-1".into()),
        fields,
        items: vec![Item {
            name: "示例项目".into(),
            quantity: "1".into(),
            unit_price: "1000.00".into(),
            amount: "1000.00".into(),
        }],
        created_at_ms: now_ms(),
    }
}

/// Renders `parts` for `order` (a sample order of `schema` when `None`), as a send
/// would: a field the schema does not have is refused by name.
pub fn preview(
    parts: &TemplateParts,
    order: Option<&Order>,
    schema: &Schema,
    base_url: &Url,
) -> Result<Article, TemplateError> {
    let refuse = |part, problem| TemplateError {
        part,
        line: None,
        problem,
    };
    if parts.title.trim().is_empty() {
        return Err(refuse(Part::Title, TemplateProblem::Required));
    }
    if let Some(part) = Part::ALL
        .into_iter()
        .find(|p| parts.text(*p).chars().count() > MAX_PART_CHARS)
    {
        return Err(refuse(part, TemplateProblem::TooLong));
    }
    let sample = sample_order(schema);
    let order = order.unwrap_or(&sample);
    let quote_url = format!(
        "{base_url}quote?openid=oPreview&order_id={}&sig=preview",
        order.id
    );
    let ctx = context_for(order, "oPreview", &quote_url, base_url);
    Compiled::new(&parts.as_model())?.render(&ctx)
}

/// Stores `parts` as the version in force, after checking them, and drops this
/// instance's compiled template (other instances pick it up within a second). Parts
/// equal to the version in force store nothing: history only grows with changes.
pub async fn save(domain: &Domain, parts: &TemplateParts) -> Result<Saved, AppError> {
    store(domain, parts, "saved").await
}

async fn store(domain: &Domain, parts: &TemplateParts, origin: &str) -> Result<Saved, AppError> {
    let schema = domain.schemas.current().await?;
    preview(parts, None, &schema, &domain.base_url)?;
    if let Some(newest) = versions(&domain.db, 1).await?.pop()
        && newest.parts == *parts
    {
        return Ok(Saved::Unchanged(newest));
    }
    let stored = template::ActiveModel {
        title: Set(parts.title.clone()),
        description: Set(parts.description.clone()),
        pic_url: Set(parts.pic_url.clone()),
        link: Set(parts.link.clone()),
        created_at_ms: Set(now_ms()),
        origin: Set(Some(origin.to_owned())),
        ..Default::default()
    }
    .insert(&domain.db)
    .await?;
    domain.cards.forget();
    Ok(Saved::New(Version::from(&stored)))
}

/// Newest first; the first is in force.
pub async fn versions(db: &DatabaseConnection, limit: u64) -> Result<Vec<Version>, DbErr> {
    let rows = template::Entity::find()
        .order_by_desc(template::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.iter().map(Version::from).collect())
}

/// Puts an old version back in force, as a new version (history is never rewritten).
pub async fn restore(domain: &Domain, id: i64) -> Result<Saved, AppError> {
    let old = template::Entity::find_by_id(id)
        .one(&domain.db)
        .await?
        .ok_or(AppError::NotFound)?;
    store(
        domain,
        &TemplateParts::from(&old),
        &format!("restored:{id}"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preview_default(
        p: &TemplateParts,
        order: Option<&Order>,
        base: &Url,
    ) -> Result<Article, TemplateError> {
        preview(
            p,
            order,
            &crate::quote::orders::schema::default_schema(),
            base,
        )
    }

    fn parts(title: &str) -> TemplateParts {
        TemplateParts {
            title: title.into(),
            description: "{{ total_money }} 元".into(),
            pic_url: String::new(),
            link: "{{ quote_url }}".into(),
        }
    }

    #[test]
    fn broken_templates_are_refused_with_their_part_and_line() {
        let base = Url::parse("https://q.example/").unwrap();
        let err = preview_default(&parts("报价 {{ total_money "), None, &base).unwrap_err();
        assert_eq!((err.part, err.line), (Part::Title, Some(1)));
        let mut p = parts("ok");
        p.description = "第一行\n{{ no_such_field }}".into();
        let err = preview_default(&p, None, &base).unwrap_err();
        assert_eq!((err.part, err.line), (Part::Description, Some(2)));
        let mut p = parts("ok");
        p.link = "not a url".into();
        assert_eq!(
            preview_default(&p, None, &base).unwrap_err().part,
            Part::Link
        );
        let err = preview_default(&parts(" "), None, &base).unwrap_err();
        assert_eq!(
            (err.part, err.problem),
            (Part::Title, TemplateProblem::Required)
        );
    }

    #[test]
    fn a_good_template_previews_with_the_orders_figures() {
        let base = Url::parse("https://q.example/").unwrap();
        let a = preview_default(&parts("{{ building_area }}㎡"), None, &base).unwrap();
        assert_eq!(
            (a.title.as_str(), a.description.as_str()),
            ("110㎡", "12800 元")
        );
        assert!(a.url.starts_with("https://q.example/quote?"));
    }
}
