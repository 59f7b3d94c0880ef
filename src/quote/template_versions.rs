//! Editing the message template: a new version is checked before it is stored, so a
//! template that does not compile or names a field the order does not have is refused
//! with its part, line and reason while the version in force stays; every version is
//! kept and can be restored (as a new, newest version).

use entity::{order, template};
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::template::{context_for, render};
use crate::wechat::message::Article;
use crate::{AppError, now_ms};

/// WeChat cuts news titles at 64 characters and descriptions at 120 in the card; we keep
/// generous limits on the sources and leave the rendered text to WeChat.
const MAX_PART_CHARS: usize = 2000;

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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Version {
    pub id: i64,
    pub created_at_ms: i64,
    #[serde(flatten)]
    pub parts: TemplateParts,
}

/// An order to check templates against when the shop has none yet.
fn sample_order() -> order::Model {
    order::Model {
        id: 1,
        total_cents: 1_280_000,
        saved_cents: 320_050,
        room_area_centi: 8_800,
        created_at_ms: now_ms(),
    }
}

/// Renders `parts` for `order` (the sample order when `None`), as the worker would.
pub fn preview(
    parts: &TemplateParts,
    order: Option<&order::Model>,
    base_url: &Url,
) -> Result<Article, AppError> {
    if parts.title.trim().is_empty() {
        return Err(AppError::bad_field("title", "is required"));
    }
    for (field, text) in [
        ("title", &parts.title),
        ("description", &parts.description),
        ("pic_url", &parts.pic_url),
        ("link", &parts.link),
    ] {
        if text.chars().count() > MAX_PART_CHARS {
            return Err(AppError::bad_field(field, "is longer than 2000 characters"));
        }
    }
    let sample = sample_order();
    let order = order.unwrap_or(&sample);
    let quote_url = format!(
        "{base_url}quote?openid=oPreview&order_id={}&sig=preview",
        order.id
    );
    let ctx = context_for(order, "oPreview", &quote_url, base_url);
    let tpl = template::Model {
        id: 0,
        title: parts.title.clone(),
        description: parts.description.clone(),
        pic_url: parts.pic_url.clone(),
        link: parts.link.clone(),
        created_at_ms: 0,
    };
    let article = render(&tpl, &ctx).map_err(|e| {
        let field = ["title", "description", "pic_url", "link"]
            .into_iter()
            .find(|f| e.starts_with(&format!("{f}:")) || e.starts_with(&format!("{f} ")))
            .unwrap_or("template");
        AppError::bad_field(field, e)
    })?;
    if !(article.url.starts_with("https://") || article.url.starts_with("http://")) {
        return Err(AppError::bad_field(
            "link",
            "must render to an http(s) address",
        ));
    }
    if !(article.picurl.is_empty()
        || article.picurl.starts_with("https://")
        || article.picurl.starts_with("http://"))
    {
        return Err(AppError::bad_field(
            "pic_url",
            "must render to an http(s) address, or nothing",
        ));
    }
    Ok(article)
}

/// Stores `parts` as the version in force, after checking them, and drops this
/// instance's cached template (other instances pick it up within a second).
pub async fn save(state: &crate::AppState, parts: &TemplateParts) -> Result<Version, AppError> {
    let version = store(&state.db, parts, &state.base_url).await?;
    state.template.invalidate(&()).await;
    Ok(version)
}

async fn store(
    db: &DatabaseConnection,
    parts: &TemplateParts,
    base_url: &Url,
) -> Result<Version, AppError> {
    preview(parts, None, base_url)?;
    let stored = template::ActiveModel {
        title: Set(parts.title.clone()),
        description: Set(parts.description.clone()),
        pic_url: Set(parts.pic_url.clone()),
        link: Set(parts.link.clone()),
        created_at_ms: Set(now_ms()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(Version {
        id: stored.id,
        created_at_ms: stored.created_at_ms,
        parts: TemplateParts::from(&stored),
    })
}

/// Newest first; the first is in force.
pub async fn versions(db: &DatabaseConnection, limit: u64) -> Result<Vec<Version>, DbErr> {
    let rows = template::Entity::find()
        .order_by_desc(template::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .map(|t| Version {
            id: t.id,
            created_at_ms: t.created_at_ms,
            parts: TemplateParts::from(t),
        })
        .collect())
}

/// Puts an old version back in force, as a new version (history is never rewritten).
pub async fn restore(state: &crate::AppState, id: i64) -> Result<Version, AppError> {
    let old = template::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound)?;
    save(state, &TemplateParts::from(&old)).await
}

#[cfg(test)]
mod tests {
    use super::*;

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
        match preview(&parts("报价 {{ total_money "), None, &base) {
            Err(AppError::BadRequest {
                field: Some("title"),
                reason,
            }) => assert!(reason.contains("line 1"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let mut p = parts("ok");
        p.description = "第一行\n{{ no_such_field }}".into();
        match preview(&p, None, &base) {
            Err(AppError::BadRequest {
                field: Some("description"),
                reason,
            }) => assert!(reason.contains("line 2"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let mut p = parts("ok");
        p.link = "not a url".into();
        assert!(matches!(
            preview(&p, None, &base),
            Err(AppError::BadRequest {
                field: Some("link"),
                ..
            })
        ));
        assert!(matches!(
            preview(&parts(" "), None, &base),
            Err(AppError::BadRequest {
                field: Some("title"),
                ..
            })
        ));
    }

    #[test]
    fn a_good_template_previews_with_the_orders_figures() {
        let base = Url::parse("https://q.example/").unwrap();
        let a = preview(&parts("{{ building_area }}㎡"), None, &base).unwrap();
        assert_eq!(
            (a.title.as_str(), a.description.as_str()),
            ("110㎡", "12800 元")
        );
        assert!(a.url.starts_with("https://q.example/quote?"));
    }
}
