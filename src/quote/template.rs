//! The message template: minijinja sources for the article's title, description,
//! picture and link, stored in the database (newest version in force).
//!
//! Rendering is strict: a field the context does not have is an error, not an empty
//! string, so a typo never sends a card with holes in it.

use entity::{order, template};
use minijinja::{Environment, UndefinedBehavior, Value, context};
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryOrder, Set,
};
use url::Url;

use super::orders::{building_area, market_cents, plain};
use crate::wechat::message::Article;
use crate::{AppError, now_ms};

/// The card the service sends unless a site owner configured another.
pub const DEFAULT_TITLE: &str = "您的报价已保存：{{ building_area }}㎡ 仅需 {{ total_money }} 元";
pub const DEFAULT_DESCRIPTION: &str = "建筑面积：{{ building_area }}㎡\n我们的报价：{{ total_money }} 元\n市场价：{{ market_money }} 元\n为您节省：{{ saved_money }} 元\n点击查看报价详情";
pub const DEFAULT_PIC_URL: &str = "{{ base_url }}static/card.png";
pub const DEFAULT_LINK: &str = "{{ quote_url }}";

/// Stores the default template if there is none yet.
pub async fn ensure_default(db: &DatabaseConnection) -> Result<(), DbErr> {
    if template::Entity::find().count(db).await? == 0 {
        template::ActiveModel {
            title: Set(DEFAULT_TITLE.into()),
            description: Set(DEFAULT_DESCRIPTION.into()),
            pic_url: Set(DEFAULT_PIC_URL.into()),
            link: Set(DEFAULT_LINK.into()),
            created_at_ms: Set(now_ms()),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// The template in force: the newest version.
pub async fn active(db: &DatabaseConnection) -> Result<Option<template::Model>, DbErr> {
    template::Entity::find()
        .order_by_desc(template::Column::Id)
        .one(db)
        .await
}

/// A template version with its four parts parsed, ready to render many times: parsing
/// is most of the cost of a render, and every message is rendered.
pub struct Compiled {
    pub id: i64,
    env: Environment<'static>,
}

/// The parts by the names errors call them, and the source of each.
fn parts(tpl: &template::Model) -> [(&'static str, &str); 4] {
    [
        ("title", &tpl.title),
        ("description", &tpl.description),
        ("link", &tpl.link),
        ("pic_url", &tpl.pic_url),
    ]
}

impl Compiled {
    /// Parses all four parts; the error names the part and minijinja's line and reason.
    pub fn new(tpl: &template::Model) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in parts(tpl) {
            env.add_template_owned(name, source.to_owned())
                .map_err(|e| explain(name, &e))?;
        }
        Ok(Compiled { id: tpl.id, env })
    }

    /// Renders all four parts; the error names the part and minijinja's line and reason.
    pub fn render(&self, ctx: &Value) -> Result<Article, String> {
        let part = |name: &str| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(ctx))
                .map(|s| s.trim().to_owned())
                .map_err(|e| explain(name, &e))
        };
        Ok(Article {
            title: part("title")?,
            description: part("description")?,
            url: part("link")?,
            picurl: part("pic_url")?,
        })
    }
}

fn explain(part: &str, e: &minijinja::Error) -> String {
    let line = e.line().map(|l| format!(" line {l}")).unwrap_or_default();
    let reason = match e.kind() {
        minijinja::ErrorKind::UndefinedError => "names a field the order does not have".to_owned(),
        kind => e
            .detail()
            .map(str::to_owned)
            .unwrap_or_else(|| kind.to_string()),
    };
    format!("{part}{line}: {reason}")
}

/// The template in force, compiled, through the short template cache. A stored
/// version that does not compile (it was checked when saved) is an error naming why.
/// When the cached one runs out, one caller reads and compiles the template and the
/// others wait for it, rather than every send under way doing it at once.
pub async fn active_cached(
    state: &crate::AppState,
) -> Result<Option<std::sync::Arc<Compiled>>, AppError> {
    if let Some(compiled) = state.template.get(&()).await {
        return Ok(compiled);
    }
    let load = async {
        let Some(t) = active(&state.db).await? else {
            return Ok(None);
        };
        let compiled = Compiled::new(&t)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("template {}: {e}", t.id)))?;
        Ok::<_, AppError>(Some(std::sync::Arc::new(compiled)))
    };
    // Boxed, so the load's large future is not part of every send's (see `crate::db`).
    Box::pin(state.template.try_get_with((), load))
        .await
        .map_err(|e| match &*e {
            AppError::Db(db) => AppError::Db(db.clone()),
            other => AppError::Internal(anyhow::anyhow!("{other}")),
        })
}

/// What a template can use: the order's figures (plain, for people), the shopper's
/// openid, the signed quote link and the service's base URL.
pub fn context_for(order: &order::Model, openid: &str, quote_url: &str, base_url: &Url) -> Value {
    context! {
        order_id => order.id,
        total_money => plain(order.total_cents),
        saved_money => plain(order.saved_cents),
        market_money => plain(market_cents(order)),
        room_area => plain(order.room_area_centi),
        building_area => building_area(order),
        openid => openid,
        quote_url => quote_url,
        base_url => base_url.as_str(),
    }
}

/// Compiles and renders `tpl` once: for checking and previewing a version.
pub fn render(tpl: &template::Model, ctx: &Value) -> Result<Article, String> {
    Compiled::new(tpl)?.render(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_template() -> template::Model {
        template::Model {
            id: 1,
            title: DEFAULT_TITLE.into(),
            description: DEFAULT_DESCRIPTION.into(),
            pic_url: DEFAULT_PIC_URL.into(),
            link: DEFAULT_LINK.into(),
            created_at_ms: 0,
        }
    }

    fn sample_order() -> order::Model {
        order::Model {
            id: 42,
            total_cents: 1_280_000,
            saved_cents: 320_050,
            room_area_centi: 88_00,
            created_at_ms: 0,
        }
    }

    #[test]
    fn the_default_card_states_area_prices_and_saving() {
        let base = Url::parse("https://q.example/").unwrap();
        let ctx = context_for(&sample_order(), "oX", "https://q.example/quote?x", &base);
        let article = render(&default_template(), &ctx).unwrap();
        assert_eq!(article.title, "您的报价已保存：110㎡ 仅需 12800 元");
        assert_eq!(
            article.description,
            "建筑面积：110㎡\n我们的报价：12800 元\n市场价：16000.50 元\n为您节省：3200.50 元\n点击查看报价详情"
        );
        assert_eq!(article.url, "https://q.example/quote?x");
        assert_eq!(article.picurl, "https://q.example/static/card.png");
    }

    #[test]
    fn unknown_fields_and_broken_syntax_are_errors_with_a_reason() {
        let base = Url::parse("https://q.example/").unwrap();
        let ctx = context_for(&sample_order(), "oX", "u", &base);
        let mut tpl = default_template();
        tpl.title = "{{ no_such_field }}".into();
        let err = render(&tpl, &ctx).unwrap_err();
        assert!(err.starts_with("title line 1"), "{err}");
        tpl.title = "ok".into();
        tpl.description = "line one\n{% if %}".into();
        let err = render(&tpl, &ctx).unwrap_err();
        assert!(err.starts_with("description line 2"), "{err}");
    }
}
