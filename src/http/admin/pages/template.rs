//! The template page: edit the card, preview it against an order, save it (an
//! unchanged save stores nothing), restore an old version. A refused template comes
//! back with its error and the draft, and the version in force stays.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::console::{self, Done, Said, Section, refusal};
use super::{AdminForm, NoFields};
use crate::http::admin::auth::Admin;
use crate::http::extract::{Path, Query};
use crate::http::time::beijing;
use crate::quote::card::versions::{self, Saved, TemplateParts};
use crate::wechat::message::Article;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/template", get(show).post(edit))
        .route("/admin/template/{id}/restore", post(restore))
}

/// What the form hands back to the page besides what was said.
#[derive(Default)]
struct Draft {
    parts: Option<TemplateParts>,
    preview: Option<Article>,
    order_id: Option<i64>,
}

async fn render(
    app: &AppState,
    admin: &Admin,
    draft: Draft,
    said: Said,
) -> Result<Response, AppError> {
    let db = &app.domain.db;
    let versions: Vec<minijinja::Value> = versions::versions(db, 20)
        .await?
        .into_iter()
        .map(|v| {
            context! {
                id => v.id, title => v.parts.title.clone(), saved_at => beijing(v.created_at_ms),
                how => v.origin_zh, parts => v.parts,
            }
        })
        .collect();
    let current = match draft.parts {
        Some(parts) => Some(parts),
        None => versions::versions(db, 1).await?.pop().map(|v| v.parts),
    };
    let schema = app.domain.schemas.current().await?;
    let fields = versions::usable_names(&schema, &app.domain.base_url);
    console::page(
        app,
        admin,
        Section::Template,
        "admin_template.html",
        context! { draft => current, versions, fields, preview => draft.preview, order_id => draft.order_id },
        said,
    )
    .await
}

async fn show(
    admin: Admin,
    State(app): State<AppState>,
    Query(q): Query<Done>,
) -> Result<Response, AppError> {
    render(
        &app,
        &admin,
        Draft::default(),
        Said::done(q.done.as_deref()),
    )
    .await
}

#[derive(Deserialize)]
struct TemplateForm {
    action: Option<String>,
    title: Option<String>,
    description: Option<String>,
    pic_url: Option<String>,
    link: Option<String>,
    order_id: Option<String>,
}

async fn edit(
    State(app): State<AppState>,
    AdminForm { admin, form }: AdminForm<TemplateForm>,
) -> Result<Response, AppError> {
    let parts = TemplateParts {
        title: form.title.unwrap_or_default(),
        description: form.description.unwrap_or_default(),
        pic_url: form.pic_url.unwrap_or_default(),
        link: form.link.unwrap_or_default(),
    };
    let mut draft = Draft {
        parts: Some(parts.clone()),
        ..Default::default()
    };
    let order_id = match form.order_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match text.parse::<i64>() {
            Ok(id) if id > 0 => Some(id),
            _ => {
                let said = Said::refused("预览所用订单编号须为数字");
                return render(&app, &admin, draft, said).await;
            }
        },
    };
    let previewing = form.action.as_deref() == Some("preview");
    let order = match order_id.filter(|_| previewing) {
        None => None,
        Some(id) => match app.domain.orders.find(id).await {
            Ok(order) => Some(order),
            Err(AppError::NotFound) => {
                let said = Said::refused(format!("没有编号为 {id} 的订单"));
                return render(&app, &admin, draft, said).await;
            }
            Err(e) => return Err(e),
        },
    };
    // Checked the way a send renders it; refused, the page says which part and line.
    let schema = app.domain.schemas.current().await?;
    match versions::preview(&parts, order.as_ref(), &schema, &app.domain.base_url) {
        Err(e) => render(&app, &admin, draft, Said::refused(e.to_string())).await,
        Ok(article) if previewing => {
            draft.order_id = order.as_ref().map(|o| o.id);
            draft.preview = Some(article);
            render(&app, &admin, draft, Said::default()).await
        }
        Ok(_) => match versions::save(&app.domain, &parts).await {
            Ok(Saved::New(_)) => Ok(console::done(Section::Template, "saved")),
            Ok(Saved::Unchanged(_)) => Ok(console::done(Section::Template, "unchanged")),
            Err(e) => render(&app, &admin, draft, refusal(e)?).await,
        },
    }
}

async fn restore(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    _: AdminForm<NoFields>,
) -> Result<Response, AppError> {
    Ok(match versions::restore(&app.domain, id).await? {
        Saved::New(_) => console::done(Section::Template, "restored"),
        Saved::Unchanged(_) => console::done(Section::Template, "unchanged"),
    })
}
