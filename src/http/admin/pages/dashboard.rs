//! The console's one page, drawn with everything it shows, and what every form does at
//! its end: back to its section, or the page again with the reason it was refused.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;

use super::session::login_page;
use crate::http::admin::api::deliveries::check_status;
use crate::http::admin::auth::Admin;
use crate::http::query;
use crate::quote::card::versions::{self, TemplateParts};
use crate::quote::codes::replies::list_replies;
use crate::quote::codes::{permanent, promoters};
use crate::quote::outbox::views::{self, status_counts};
use crate::wechat::message::Article;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin", get(dashboard))
}

const PER_PAGE: u64 = 20;

#[derive(Deserialize, Default)]
pub struct DashboardQuery {
    status: Option<String>,
    page: Option<String>,
}

/// What a form hands back to the page besides the stored state.
#[derive(Default)]
pub struct Feedback {
    pub error: Option<String>,
    pub draft: Option<TemplateParts>,
    pub preview: Option<Article>,
    pub order_id: Option<i64>,
}

async fn dashboard(
    admin: Result<Admin, AppError>,
    State(app): State<AppState>,
    Query(q): Query<DashboardQuery>,
) -> Result<Response, AppError> {
    let Ok(admin) = admin else {
        return login_page(&app.web, StatusCode::OK, None);
    };
    render(&app, &admin, &q, Feedback::default()).await
}

/// The page, with what a form hands back; 400 when that is a refusal.
pub async fn render(
    app: &AppState,
    admin: &Admin,
    q: &DashboardQuery,
    feedback: Feedback,
) -> Result<Response, AppError> {
    let db = &app.domain.db;
    let status = check_status(q.status.as_deref()).unwrap_or(None);
    let page = query::number(q.page.as_deref(), "page", 0, query::MAX_PAGE, 0)?;
    let (deliveries, total) = views::page(db, status, page, PER_PAGE).await?;
    let versions = versions::versions(db, 10).await?;
    let draft = feedback
        .draft
        .or_else(|| versions.first().map(|v| v.parts.clone()));
    let status_code = if feedback.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page_html: Html<String> = app.web.pages.render(
        "admin.html",
        context! {
            csrf => admin.csrf(),
            counts => status_counts(db).await?,
            deliveries,
            status => status.map(|s| s.as_str()),
            page,
            has_next => (page + 1) * PER_PAGE < total,
            total,
            replies => list_replies(db).await?,
            promoters => promoter_rows(app).await?,
            remaining_codes => permanent::remaining(db).await?,
            delivery_mode => app.domain.delivery_mode.current().await?,
            versions,
            draft,
            preview => feedback.preview,
            order_id => feedback.order_id,
            error => feedback.error,
        },
    )?;
    Ok((status_code, [("cache-control", "no-store")], page_html).into_response())
}

/// Each promoter with their counts and 30-day chart.
async fn promoter_rows(app: &AppState) -> Result<Vec<minijinja::Value>, AppError> {
    let db = &app.domain.db;
    let mut rows = Vec::new();
    for p in promoters::list(db).await? {
        let days = promoters::last_30_days(db, &p.promoter).await?;
        rows.push(context! {
            promoter => p.promoter.clone(),
            scans => p.scans,
            new_followers => p.new_followers,
            chart => minijinja::Value::from_safe_string(promoters::chart_svg(&days)),
        });
    }
    Ok(rows)
}

/// How a refused input reads on the page: the field, then why.
pub fn refusal(field: Option<String>, reason: String) -> String {
    match field {
        Some(f) => format!("{f}: {reason}"),
        None => reason,
    }
}

/// The page with `error` where the form was.
pub async fn refused(
    app: &AppState,
    admin: &Admin,
    mut feedback: Feedback,
    error: String,
) -> Result<Response, AppError> {
    feedback.error = Some(error);
    render(app, admin, &DashboardQuery::default(), feedback).await
}

/// The end of a form that changes one thing: back to its section when it worked, the
/// page with the reason when the input was refused or the change is not possible now.
pub async fn after_form<T>(
    app: &AppState,
    admin: &Admin,
    result: Result<T, AppError>,
    section: &str,
) -> Result<Response, AppError> {
    match result {
        Ok(_) => Ok(Redirect::to(section).into_response()),
        Err(AppError::BadRequest { field, reason }) => {
            refused(app, admin, Feedback::default(), refusal(field, reason)).await
        }
        Err(AppError::Conflict(reason)) => refused(app, admin, Feedback::default(), reason).await,
        Err(e) => Err(e),
    }
}
