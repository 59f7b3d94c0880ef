//! The promoter and scene reply forms, and the promoters' code images to print.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::AdminForm;
use super::dashboard::after_form;
use crate::http::admin::auth::Admin;
use crate::quote::Domain;
use crate::quote::codes::promoters;
use crate::quote::codes::replies::save_reply;
use crate::{AppError, AppState, images};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/scene-replies", post(add_scene_reply))
        .route("/admin/promoters", post(add_promoter))
        .route("/admin/promoters/{promoter}/qrcode.png", get(promoter_png))
        .route("/admin/promoters/{promoter}/qrcode.svg", get(promoter_svg))
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
    after_form(&app, &admin, saved, "/admin#replies").await
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
    after_form(&app, &admin, created, "/admin#promoters").await
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
