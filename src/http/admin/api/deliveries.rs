//! `/api/admin/deliveries`: the outbox's messages, a page at a time or as CSV, and
//! sending a failed one again.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AdminAction;
use crate::http::admin::auth::Admin;
use crate::http::error::ErrorBody;
use crate::http::query;
use crate::quote::Domain;
use crate::quote::outbox::Status;
use crate::quote::outbox::views::{self, DeliveryView};
use crate::{AppError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_deliveries))
        .routes(routes!(deliveries_csv))
        .routes(routes!(retry_delivery))
}

#[derive(Deserialize)]
struct DeliveryQuery {
    status: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryView>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// The status filter of a query: empty or absent is every status.
pub fn check_status(status: Option<&str>) -> Result<Option<Status>, AppError> {
    match status.filter(|s| !s.is_empty()) {
        Some(s) => Status::parse(s).map(Some).ok_or_else(|| {
            AppError::bad_field("status", "must be pending, sending, sent or failed")
        }),
        None => Ok(None),
    }
}

#[utoipa::path(get, path = "/api/admin/deliveries", tag = "admin", security(("admin_token" = [])),
    params(("status" = Option<String>, Query, description = "pending, sending, sent or failed"), ("page" = Option<u64>, Query), ("per_page" = Option<u64>, Query)),
    responses((status = 200, body = DeliveryPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_deliveries(
    _: Admin,
    State(domain): State<Domain>,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<DeliveryPage>, AppError> {
    let status = check_status(q.status.as_deref())?;
    let page = query::number(q.page.as_deref(), "page", 0, query::MAX_PAGE, 0)?;
    let per_page = query::number(q.per_page.as_deref(), "per_page", 1, 200, 50)?;
    let (items, total) = views::page(&domain.db, status, page, per_page).await?;
    Ok(Json(DeliveryPage {
        items,
        total,
        page,
        per_page,
    }))
}

#[utoipa::path(get, path = "/api/admin/deliveries.csv", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = ErrorBody)))]
async fn deliveries_csv(
    _: Admin,
    State(domain): State<Domain>,
) -> Result<impl IntoResponse, AppError> {
    let body = views::csv(&domain.db).await?;
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"deliveries.csv\"",
            ),
        ],
        body,
    ))
}

/// Sends a failed message again, while WeChat would still accept it.
#[utoipa::path(post, path = "/api/admin/deliveries/{id}/retry", tag = "admin", security(("admin_token" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = DeliveryView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn retry_delivery(
    _: AdminAction,
    State(domain): State<Domain>,
    Path(id): Path<i64>,
) -> Result<Json<DeliveryView>, AppError> {
    Ok(Json(views::retry(&domain, id).await?))
}
