//! The codes page: promoters' permanent codes (with their numbers and 30-day chart)
//! and scene replies, their forms, and the promoters' code images to print.

use axum::Router;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use minijinja::context;

use super::AdminForm;
use super::console::{self, Done, Said, Section, refusal};
use crate::http::admin::auth::Admin;
use crate::http::extract::{Path, Query};
use crate::quote::Domain;
use crate::quote::codes::replies::{list_replies, save_reply};
use crate::quote::codes::{permanent, promoters};
use crate::{AppError, AppState, images};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/codes", get(show))
        .route("/admin/scene-replies", post(add_scene_reply))
        .route("/admin/promoters", post(add_promoter))
        .route("/admin/promoters/{promoter}/qrcode.png", get(promoter_png))
        .route("/admin/promoters/{promoter}/qrcode.svg", get(promoter_svg))
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

async fn render(app: &AppState, admin: &Admin, said: Said) -> Result<Response, AppError> {
    let db = &app.domain.db;
    let ctx = context! {
        promoters => promoter_rows(app).await?,
        replies => list_replies(db).await?,
        remaining_codes => permanent::remaining(db).await?,
    };
    console::page(app, admin, Section::Codes, "admin_codes.html", ctx, said).await
}

async fn show(
    admin: Admin,
    State(app): State<AppState>,
    Query(q): Query<Done>,
) -> Result<Response, AppError> {
    render(&app, &admin, Said::done(q.done.as_deref())).await
}

/// Back to the page saying it was done, or the page with the refusal.
async fn after<T>(
    app: &AppState,
    admin: &Admin,
    result: Result<T, AppError>,
) -> Result<Response, AppError> {
    match result {
        Ok(_) => Ok(console::done(Section::Codes, "saved")),
        Err(e) => render(app, admin, refusal(e)?).await,
    }
}

#[derive(Deserialize)]
struct ReplyForm {
    scene: Option<String>,
    text: Option<String>,
}

async fn add_scene_reply(
    State(app): State<AppState>,
    AdminForm { admin, form }: AdminForm<ReplyForm>,
) -> Result<Response, AppError> {
    let scene = form.scene.unwrap_or_default();
    let saved = save_reply(&app.domain, scene.trim(), &form.text.unwrap_or_default()).await;
    after(&app, &admin, saved).await
}

#[derive(Deserialize)]
struct PromoterForm {
    promoter: Option<String>,
}

async fn add_promoter(
    State(app): State<AppState>,
    AdminForm { admin, form }: AdminForm<PromoterForm>,
) -> Result<Response, AppError> {
    let promoter = form.promoter.unwrap_or_default();
    let created = promoters::create(&app.domain, &promoter).await;
    after(&app, &admin, created).await
}

/// The promoter's code as a download: `png` or `svg`.
async fn promoter_image(domain: &Domain, promoter: &str, svg: bool) -> Result<Response, AppError> {
    let code = promoters::find_code(&domain.db, promoter)
        .await?
        .ok_or(AppError::NotFound)?;
    let code = images::qr_code(&code.url)?;
    let (body, content_type, ext) = if svg {
        (images::qr_svg(&code), "image/svg+xml", "svg")
    } else {
        (images::qr_png(&code)?, "image/png", "png")
    };
    let disposition = format!("attachment; filename=\"promoter-{promoter}.{ext}\"");
    Ok((
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

async fn promoter_png(
    _: Admin,
    State(domain): State<Domain>,
    Path(promoter): Path<String>,
) -> Result<Response, AppError> {
    promoter_image(&domain, &promoter, false).await
}

async fn promoter_svg(
    _: Admin,
    State(domain): State<Domain>,
    Path(promoter): Path<String>,
) -> Result<Response, AppError> {
    promoter_image(&domain, &promoter, true).await
}
