//! `/api/admin/settings`: the site owner's choices (the delivery mode); `/api/admin/shop`:
//! whose shop this is.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AdminChange;
use crate::http::admin::auth::Admin;
use crate::http::error::ErrorBody;
use crate::quote::Domain;
use crate::quote::settings::DeliveryMode;
use crate::quote::shop::Shop;
use crate::{AppError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show_settings, put_settings))
        .routes(routes!(show_shop, put_shop))
}

#[derive(Serialize, Deserialize, ToSchema)]
struct Settings {
    delivery_mode: DeliveryMode,
}

#[utoipa::path(get, path = "/api/admin/settings", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = Settings), (status = 401, body = ErrorBody)))]
async fn show_settings(_: Admin, State(domain): State<Domain>) -> Result<Json<Settings>, AppError> {
    Ok(Json(Settings {
        delivery_mode: domain.delivery_mode.current().await?,
    }))
}

#[utoipa::path(put, path = "/api/admin/settings", tag = "admin", security(("admin_token" = [])), request_body = Settings,
    responses((status = 200, body = Settings), (status = 400, body = ErrorBody)))]
async fn put_settings(
    State(domain): State<Domain>,
    AdminChange(settings): AdminChange<Settings>,
) -> Result<Json<Settings>, AppError> {
    domain.delivery_mode.set(settings.delivery_mode).await?;
    Ok(Json(settings))
}

/// The shop as its pages show it; 404 before the owner has set it.
#[utoipa::path(get, path = "/api/admin/shop", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = Shop), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn show_shop(_: Admin, State(domain): State<Domain>) -> Result<Json<Shop>, AppError> {
    let shop = domain.shop.current().await?;
    Option::clone(&*shop).map(Json).ok_or(AppError::NotFound)
}

/// Sets the shop's name, logo, phone, address and booking page (all but the name may
/// be empty).
#[utoipa::path(put, path = "/api/admin/shop", tag = "admin", security(("admin_token" = [])), request_body = Shop,
    responses((status = 200, body = Shop), (status = 400, body = ErrorBody)))]
async fn put_shop(
    State(domain): State<Domain>,
    AdminChange(shop): AdminChange<Shop>,
) -> Result<Json<Shop>, AppError> {
    Ok(Json(domain.shop.set(shop).await?))
}
