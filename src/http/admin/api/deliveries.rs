//! `/api/admin/deliveries`: the outbox's messages, a page at a time or as CSV, and
//! sending a failed one again.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AdminAction;
use crate::http::admin::auth::Admin;
use crate::http::csv::Csv;
use crate::http::error::ErrorBody;
use crate::http::extract::{Path, Query};
use crate::http::query;
use crate::http::time::beijing_rfc3339;
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
            AppError::bad_field("status", "状态须为 pending（等待）、sending（发送中）、sent（已发送）、failed（失败）或 unknown（状态不明）")
        }),
        None => Ok(None),
    }
}

#[utoipa::path(get, path = "/api/admin/deliveries", tag = "admin", security(("admin_token" = [])),
    params(("status" = Option<String>, Query, description = "pending, sending, sent, failed or unknown"), ("page" = Option<u64>, Query), ("per_page" = Option<u64>, Query)),
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

#[derive(Deserialize)]
struct CsvQuery {
    status: Option<String>,
}

/// Messages as a spreadsheet (newest first, at most 100,000), of one status when asked:
/// Chinese headers, Beijing times.
#[utoipa::path(get, path = "/api/admin/deliveries.csv", tag = "admin", security(("admin_token" = [])),
    params(("status" = Option<String>, Query, description = "pending, sending, sent, failed or unknown")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn deliveries_csv(
    _: Admin,
    State(domain): State<Domain>,
    Query(q): Query<CsvQuery>,
) -> Result<Response, AppError> {
    let status = check_status(q.status.as_deref())?;
    let rows = views::latest(&domain.db, status, 100_000).await?;
    let mut csv = Csv::new(&[
        "编号",
        "创建时间",
        "订单",
        "网站订单号",
        "用户 openid",
        "昵称",
        "状态",
        "尝试次数",
        "错误码",
        "原因",
        "发送时间",
    ]);
    for d in rows {
        csv.row(&[
            d.id.to_string(),
            beijing_rfc3339(d.created_at_ms),
            d.order_id.map(|id| id.to_string()).unwrap_or_default(),
            d.external_id.unwrap_or_default(),
            d.openid,
            d.nickname.unwrap_or_default(),
            d.status.zh().to_owned(),
            d.attempts.to_string(),
            d.errcode.map(|c| c.to_string()).unwrap_or_default(),
            d.reason.unwrap_or_default(),
            d.sent_at_ms.map(beijing_rfc3339).unwrap_or_default(),
        ]);
    }
    let name = match status {
        Some(s) => format!("消息记录-{}.csv", s.zh()),
        None => "消息记录.csv".to_owned(),
    };
    Ok(csv.download(&name))
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
