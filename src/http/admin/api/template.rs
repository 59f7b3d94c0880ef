//! `/api/admin/template`: the message card's template, its versions, preview and
//! restore.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AdminAction, AdminChange};
use crate::http::admin::auth::Admin;
use crate::http::error::ErrorBody;
use crate::http::extract::Path;
use crate::quote::Domain;
use crate::quote::card::versions::{self, TemplateParts, Version};
use crate::wechat::message::Article;
use crate::{AppError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show_template, put_template))
        .routes(routes!(preview_template))
        .routes(routes!(restore_template))
}

#[derive(Serialize, ToSchema)]
struct TemplateView {
    current: Option<Version>,
    versions: Vec<Version>,
}

#[utoipa::path(get, path = "/api/admin/template", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = TemplateView), (status = 401, body = ErrorBody)))]
async fn show_template(
    _: Admin,
    State(domain): State<Domain>,
) -> Result<Json<TemplateView>, AppError> {
    let versions = versions::versions(&domain.db, 50).await?;
    Ok(Json(TemplateView {
        current: versions.first().cloned(),
        versions,
    }))
}

/// Stores a new version of the message template, after checking it.
#[utoipa::path(put, path = "/api/admin/template", tag = "admin", security(("admin_token" = [])), request_body = TemplateParts,
    responses((status = 200, body = Version), (status = 400, body = ErrorBody)))]
async fn put_template(
    State(domain): State<Domain>,
    AdminChange(parts): AdminChange<TemplateParts>,
) -> Result<Json<Version>, AppError> {
    Ok(Json(
        versions::save(&domain, &parts).await?.version().clone(),
    ))
}

#[derive(Deserialize, ToSchema)]
struct PreviewRequest {
    #[serde(flatten)]
    parts: TemplateParts,
    order_id: Option<i64>,
}

#[utoipa::path(post, path = "/api/admin/template/preview", tag = "admin", security(("admin_token" = [])), request_body = PreviewRequest,
    responses((status = 200, body = Article), (status = 400, body = ErrorBody)))]
async fn preview_template(
    State(domain): State<Domain>,
    AdminChange(req): AdminChange<PreviewRequest>,
) -> Result<Json<Article>, AppError> {
    let order = match req.order_id {
        Some(id) => Some(domain.orders.find(id).await.map_err(|e| match e {
            AppError::NotFound => AppError::bad_field("order_id", "没有这个订单"),
            other => other,
        })?),
        None => None,
    };
    let schema = domain.schemas.current().await?;
    Ok(Json(versions::preview(
        &req.parts,
        order.as_ref(),
        &schema,
        &domain.base_url,
    )?))
}

#[utoipa::path(post, path = "/api/admin/template/versions/{id}/restore", tag = "admin", security(("admin_token" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Version), (status = 404, body = ErrorBody)))]
async fn restore_template(
    _: AdminAction,
    State(domain): State<Domain>,
    Path(id): Path<i64>,
) -> Result<Json<Version>, AppError> {
    Ok(Json(
        versions::restore(&domain, id).await?.version().clone(),
    ))
}
