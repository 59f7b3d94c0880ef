//! The template form: save a new version or preview it against an order, and restore an
//! old version. A refused template comes back with its error and the draft, and the
//! version in force stays.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde::Deserialize;

use super::dashboard::{DashboardQuery, Feedback, after_form, refused, render};
use super::{AdminForm, NoFields};
use crate::quote::card::versions::{self, TemplateParts};
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/template", post(edit_template))
        .route("/admin/template/{id}/restore", post(restore_template))
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

async fn edit_template(
    State(app): State<AppState>,
    AdminForm { admin, form }: AdminForm<TemplateForm>,
) -> Result<Response, AppError> {
    let parts = TemplateParts {
        title: form.title.unwrap_or_default(),
        description: form.description.unwrap_or_default(),
        pic_url: form.pic_url.unwrap_or_default(),
        link: form.link.unwrap_or_default(),
    };
    let mut feedback = Feedback {
        draft: Some(parts.clone()),
        ..Default::default()
    };
    let order_id = match form.order_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match text.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                let why = "order_id: must be an order number".into();
                return refused(&app, &admin, feedback, why).await;
            }
        },
    };
    let previewing = form.action.as_deref() == Some("preview");
    let order = match order_id.filter(|_| previewing) {
        None => None,
        Some(id) => match app.domain.orders.find(id).await {
            Ok(order) => Some(order),
            Err(AppError::NotFound) => {
                let why = "order_id: 没有这个订单".into();
                return refused(&app, &admin, feedback, why).await;
            }
            Err(e) => return Err(e),
        },
    };
    // Checked the way a send renders it; refused, the page says which part and line.
    let schema = app.domain.schemas.current().await?;
    match versions::preview(&parts, order.as_ref(), &schema, &app.domain.base_url) {
        Err(e) => refused(&app, &admin, feedback, e.to_string()).await,
        Ok(article) if previewing => {
            feedback.order_id = order.as_ref().map(|o| o.id);
            feedback.preview = Some(article);
            render(&app, &admin, &DashboardQuery::default(), feedback).await
        }
        Ok(_) => {
            let saved = versions::save(&app.domain, &parts).await;
            after_form(&app, &admin, saved, "/admin#template").await
        }
    }
}

async fn restore_template(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    _: AdminForm<NoFields>,
) -> Result<Response, AppError> {
    versions::restore(&app.domain, id).await?;
    Ok(Redirect::to("/admin#template").into_response())
}
