//! `/api/admin/*`: what the console does, for scripts (bearer `ADMIN_TOKEN`) and for the
//! console's own pages (session cookie + `X-CSRF-Token` on changes).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Admin;
use crate::http::openapi::ErrorBody;
use crate::promoters;
use crate::quote::deliveries::{self, DeliveryView};
use crate::quote::mode::{self, DeliveryMode};
use crate::quote::orders::find_order;
use crate::quote::template_versions::{self, TemplateParts, Version};
use crate::replies::{SceneReplyView, list_replies, save_reply};
use crate::wechat::message::Article;
use crate::{AppError, AppState};

/// Each route is registered with its OpenAPI description, so the two cannot drift.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_deliveries))
        .routes(routes!(deliveries_csv))
        .routes(routes!(retry_delivery))
        .routes(routes!(show_template, put_template))
        .routes(routes!(preview_template))
        .routes(routes!(restore_template))
        .routes(routes!(list_promoters, create_promoter))
        .routes(routes!(promoters_csv))
        .routes(routes!(promoter_days))
        .routes(routes!(show_settings, put_settings))
        .routes(routes!(scene_replies))
        .routes(routes!(put_scene_reply))
}

/// Reads a JSON body with the app's own 400 (the field and reason), after the CSRF check
/// that cookie-authenticated changes need.
fn change<T: DeserializeOwned>(
    admin: &Admin,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, AppError> {
    admin.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    serde_json::from_slice(body).map_err(|e| AppError::bad_request(format!("body: {e}")))
}

#[derive(Deserialize)]
struct DeliveryQuery {
    status: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryView>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

const STATUSES: [&str; 4] = ["pending", "sending", "sent", "failed"];

pub fn check_status(status: Option<&str>) -> Result<Option<&str>, AppError> {
    match status.filter(|s| !s.is_empty()) {
        Some(s) if STATUSES.contains(&s) => Ok(Some(s)),
        Some(_) => Err(AppError::bad_field(
            "status",
            "must be pending, sending, sent or failed",
        )),
        None => Ok(None),
    }
}

#[utoipa::path(get, path = "/api/admin/deliveries", tag = "admin", security(("admin_token" = [])),
    params(("status" = Option<String>, Query, description = "pending, sending, sent or failed"), ("page" = Option<u64>, Query), ("per_page" = Option<u64>, Query)),
    responses((status = 200, body = DeliveryPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_deliveries(
    _: Admin,
    State(state): State<AppState>,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<DeliveryPage>, AppError> {
    let status = check_status(q.status.as_deref())?;
    let (page, per_page) = (q.page.unwrap_or(0), q.per_page.unwrap_or(50).clamp(1, 200));
    let (items, total) = deliveries::page(&state.db, status, page, per_page).await?;
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
    State(state): State<AppState>,
) -> Result<impl IntoResponse, AppError> {
    let body = deliveries::csv(&state.db).await?;
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
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Json<DeliveryView>, AppError> {
    admin.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    Ok(Json(deliveries::retry(&state, id).await?))
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
    State(state): State<AppState>,
) -> Result<Json<TemplateView>, AppError> {
    let versions = template_versions::versions(&state.db, 50).await?;
    Ok(Json(TemplateView {
        current: versions.first().cloned(),
        versions,
    }))
}

/// Stores a new version of the message template, after checking it.
#[utoipa::path(put, path = "/api/admin/template", tag = "admin", security(("admin_token" = [])), request_body = TemplateParts,
    responses((status = 200, body = Version), (status = 400, body = ErrorBody)))]
async fn put_template(
    admin: Admin,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Version>, AppError> {
    let parts: TemplateParts = change(&admin, &headers, &body)?;
    Ok(Json(template_versions::save(&state, &parts).await?))
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
    admin: Admin,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Article>, AppError> {
    let req: PreviewRequest = change(&admin, &headers, &body)?;
    let order = match req.order_id {
        Some(id) => Some(find_order(&state.db, id).await.map_err(|e| match e {
            AppError::NotFound => AppError::bad_field("order_id", "no such order"),
            other => other,
        })?),
        None => None,
    };
    Ok(Json(template_versions::preview(
        &req.parts,
        order.as_ref(),
        &state.base_url,
    )?))
}

#[utoipa::path(post, path = "/api/admin/template/versions/{id}/restore", tag = "admin", security(("admin_token" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Version), (status = 404, body = ErrorBody)))]
async fn restore_template(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Json<Version>, AppError> {
    admin.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    Ok(Json(template_versions::restore(&state, id).await?))
}

#[utoipa::path(get, path = "/api/admin/scene-replies", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = [SceneReplyView]), (status = 401, body = ErrorBody)))]
async fn scene_replies(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<Vec<SceneReplyView>>, AppError> {
    Ok(Json(list_replies(&state.db).await?))
}

#[derive(Deserialize, Serialize, ToSchema)]
struct ReplyBody {
    text: String,
}

/// Maps a scene key to a reply text (creating its permanent code the first time).
#[utoipa::path(put, path = "/api/admin/scene-replies/{scene}", tag = "admin", security(("admin_token" = [])), params(("scene" = String, Path)), request_body = ReplyBody,
    responses((status = 200, body = SceneReplyView), (status = 400, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn put_scene_reply(
    admin: Admin,
    State(state): State<AppState>,
    Path(scene): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SceneReplyView>, AppError> {
    let body: ReplyBody = change(&admin, &headers, &body)?;
    Ok(Json(save_reply(&state, &scene, &body.text).await?))
}

#[derive(Serialize, ToSchema)]
struct PromoterList {
    remaining_permanent_codes: u64,
    promoters: Vec<promoters::PromoterView>,
}

#[utoipa::path(get, path = "/api/admin/promoters", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = PromoterList), (status = 401, body = ErrorBody)))]
async fn list_promoters(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<PromoterList>, AppError> {
    let used = promoters::permanent_codes_used(&state.db).await?;
    Ok(Json(PromoterList {
        remaining_permanent_codes: promoters::PERMANENT_CODE_LIMIT.saturating_sub(used),
        promoters: promoters::list(&state.db).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
struct NewPromoter {
    /// 1–100000, or 1–64 letters, digits, `_` and `-`.
    #[schema(value_type = String, example = "shop-7")]
    promoter: serde_json::Value,
}

/// Creates a promoter's permanent code (or returns the existing one).
#[utoipa::path(post, path = "/api/admin/promoters", tag = "admin", security(("admin_token" = [])), request_body = NewPromoter,
    responses((status = 201, body = promoters::PromoterView), (status = 200, body = promoters::PromoterView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_promoter(
    admin: Admin,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    let req: NewPromoter = change(&admin, &headers, &body)?;
    let id = match &req.promoter {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => {
            return Err(AppError::bad_field(
                "promoter",
                "must be a number or a string",
            ));
        }
    };
    let (view, created) = promoters::create(&state, &id).await?;
    let status = if created {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::OK
    };
    Ok((status, Json(view)))
}

#[utoipa::path(get, path = "/api/admin/promoters/{promoter}/days", tag = "admin", security(("admin_token" = [])), params(("promoter" = String, Path)),
    responses((status = 200, body = [promoters::Day]), (status = 404, body = ErrorBody)))]
async fn promoter_days(
    _: Admin,
    State(state): State<AppState>,
    Path(promoter): Path<String>,
) -> Result<Json<Vec<promoters::Day>>, AppError> {
    Ok(Json(promoters::last_30_days(&state.db, &promoter).await?))
}

#[utoipa::path(get, path = "/api/admin/promoters.csv", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = ErrorBody)))]
async fn promoters_csv(
    _: Admin,
    State(state): State<AppState>,
) -> Result<impl IntoResponse, AppError> {
    let mut out = String::from("promoter,scans,new_followers,url\n");
    for p in promoters::list(&state.db).await? {
        out.push_str(&format!(
            "{},{},{},{}\n",
            p.promoter, p.scans, p.new_followers, p.url
        ));
    }
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"promoters.csv\"",
            ),
        ],
        out,
    ))
}

#[derive(Serialize, Deserialize, ToSchema)]
struct Settings {
    delivery_mode: DeliveryMode,
}

#[utoipa::path(get, path = "/api/admin/settings", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = Settings), (status = 401, body = ErrorBody)))]
async fn show_settings(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<Settings>, AppError> {
    Ok(Json(Settings {
        delivery_mode: mode::current(&state.db, &state.delivery_mode).await?,
    }))
}

#[utoipa::path(put, path = "/api/admin/settings", tag = "admin", security(("admin_token" = [])), request_body = Settings,
    responses((status = 200, body = Settings), (status = 400, body = ErrorBody)))]
async fn put_settings(
    admin: Admin,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Settings>, AppError> {
    let settings: Settings = change(&admin, &headers, &body)?;
    mode::set(&state.db, &state.delivery_mode, settings.delivery_mode).await?;
    Ok(Json(settings))
}
