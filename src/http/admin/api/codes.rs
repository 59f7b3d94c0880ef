//! `/api/admin/promoters` and `/api/admin/scene-replies`: the permanent codes of
//! promoters (with their numbers) and of scene replies.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AdminChange;
use crate::http::admin::auth::Admin;
use crate::http::csv::Csv;
use crate::http::error::ErrorBody;
use crate::http::extract::Path;
use crate::quote::Domain;
use crate::quote::codes::replies::{SceneReplyView, list_replies, save_reply};
use crate::quote::codes::{permanent, promoters};
use crate::{AppError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_promoters, create_promoter))
        .routes(routes!(promoters_csv))
        .routes(routes!(promoter_days))
        .routes(routes!(scene_replies))
        .routes(routes!(put_scene_reply))
}

#[utoipa::path(get, path = "/api/admin/scene-replies", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = [SceneReplyView]), (status = 401, body = ErrorBody)))]
async fn scene_replies(
    _: Admin,
    State(domain): State<Domain>,
) -> Result<Json<Vec<SceneReplyView>>, AppError> {
    Ok(Json(list_replies(&domain.db).await?))
}

#[derive(Deserialize, Serialize, ToSchema)]
struct ReplyBody {
    text: String,
}

/// Maps a scene key to a reply text (creating its permanent code the first time).
#[utoipa::path(put, path = "/api/admin/scene-replies/{scene}", tag = "admin", security(("admin_token" = [])), params(("scene" = String, Path)), request_body = ReplyBody,
    responses((status = 200, body = SceneReplyView), (status = 400, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn put_scene_reply(
    State(domain): State<Domain>,
    Path(scene): Path<String>,
    AdminChange(body): AdminChange<ReplyBody>,
) -> Result<Json<SceneReplyView>, AppError> {
    Ok(Json(save_reply(&domain, &scene, &body.text).await?))
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
    State(domain): State<Domain>,
) -> Result<Json<PromoterList>, AppError> {
    Ok(Json(PromoterList {
        remaining_permanent_codes: permanent::remaining(&domain.db).await?,
        promoters: promoters::list(&domain.db).await?,
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
    State(domain): State<Domain>,
    AdminChange(req): AdminChange<NewPromoter>,
) -> Result<impl IntoResponse, AppError> {
    let id = match &req.promoter {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => {
            return Err(AppError::bad_field("promoter", "推广员须为数字或文字"));
        }
    };
    let (view, created) = promoters::create(&domain, &id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

#[utoipa::path(get, path = "/api/admin/promoters/{promoter}/days", tag = "admin", security(("admin_token" = [])), params(("promoter" = String, Path)),
    responses((status = 200, body = [promoters::Day]), (status = 404, body = ErrorBody)))]
async fn promoter_days(
    _: Admin,
    State(domain): State<Domain>,
    Path(promoter): Path<String>,
) -> Result<Json<Vec<promoters::Day>>, AppError> {
    Ok(Json(promoters::last_30_days(&domain.db, &promoter).await?))
}

#[utoipa::path(get, path = "/api/admin/promoters.csv", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = ErrorBody)))]
async fn promoters_csv(
    _: Admin,
    State(domain): State<Domain>,
) -> Result<impl IntoResponse, AppError> {
    let mut csv = Csv::new(&["推广员", "扫码次数", "新关注", "二维码内容"]);
    for p in promoters::list(&domain.db).await? {
        csv.row(&[
            p.promoter,
            p.scans.to_string(),
            p.new_followers.to_string(),
            p.url,
        ]);
    }
    Ok(csv.download("推广码.csv"))
}
