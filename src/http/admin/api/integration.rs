//! What plugs the shop's own website in: its site keys (`/api/admin/site-keys`), the
//! order's fields (`/api/admin/order-fields`), its webhook (`/api/admin/webhook`, and
//! the events sent to it), and the scans of codes this service did not make
//! (`/api/admin/foreign-scans`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AdminAction, AdminChange};
use crate::http::admin::auth::Admin;
use crate::http::error::ErrorBody;
use crate::http::extract::{Path, Query};
use crate::http::query;
use crate::quote::Domain;
use crate::quote::orders::schema::{FieldDef, Schema};
use crate::quote::outbox::views::{self, EventView};
use crate::quote::scans::{ForeignScan, foreign_scans};
use crate::quote::site_keys::{NewSiteKey, SiteKeyView};
use crate::quote::webhooks::{NewWebhook, WebhookView};
use crate::{AppError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_site_keys, create_site_key))
        .routes(routes!(revoke_site_key))
        .routes(routes!(show_order_fields, put_order_fields))
        .routes(routes!(show_webhook, put_webhook, delete_webhook))
        .routes(routes!(webhook_events))
        .routes(routes!(resend_webhook_event))
        .routes(routes!(list_foreign_scans))
}

#[derive(Deserialize, ToSchema)]
struct NewKeyBody {
    /// What the owner calls the site ("官网").
    #[schema(example = "官网")]
    name: String,
}

/// Makes a site key; the key is in this answer only.
#[utoipa::path(post, path = "/api/admin/site-keys", tag = "admin", security(("admin_token" = [])), request_body = NewKeyBody,
    responses((status = 201, body = NewSiteKey), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn create_site_key(
    State(domain): State<Domain>,
    AdminChange(body): AdminChange<NewKeyBody>,
) -> Result<(StatusCode, Json<NewSiteKey>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(domain.site_keys.create(&body.name).await?),
    ))
}

/// The keys in force: names, when made and last used; never the keys.
#[utoipa::path(get, path = "/api/admin/site-keys", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = [SiteKeyView]), (status = 401, body = ErrorBody)))]
async fn list_site_keys(
    _: Admin,
    State(domain): State<Domain>,
) -> Result<Json<Vec<SiteKeyView>>, AppError> {
    Ok(Json(domain.site_keys.list().await?))
}

/// Revokes a key: every instance refuses it from now on.
#[utoipa::path(delete, path = "/api/admin/site-keys/{id}", tag = "admin", security(("admin_token" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_site_key(
    _: AdminAction,
    State(domain): State<Domain>,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    domain.site_keys.revoke(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The order's fields in force.
#[utoipa::path(get, path = "/api/admin/order-fields", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = [FieldDef]), (status = 401, body = ErrorBody)))]
async fn show_order_fields(
    _: Admin,
    State(domain): State<Domain>,
) -> Result<Json<Schema>, AppError> {
    Ok(Json(domain.schemas.current().await?.as_ref().clone()))
}

/// Replaces the order's fields; orders made before keep theirs.
#[utoipa::path(put, path = "/api/admin/order-fields", tag = "admin", security(("admin_token" = [])), request_body = [FieldDef],
    responses((status = 200, body = [FieldDef]), (status = 400, body = ErrorBody)))]
async fn put_order_fields(
    State(domain): State<Domain>,
    AdminChange(schema): AdminChange<Schema>,
) -> Result<Json<Schema>, AppError> {
    Ok(Json(domain.schemas.set(schema).await?.as_ref().clone()))
}

/// The webhook in force (never its secret); 404 when none is set.
#[utoipa::path(get, path = "/api/admin/webhook", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody)))]
async fn show_webhook(
    _: Admin,
    State(domain): State<Domain>,
) -> Result<Json<WebhookView>, AppError> {
    let hook = domain.webhooks.current().await?.ok_or(AppError::NotFound)?;
    Ok(Json(WebhookView {
        url: hook.url.clone(),
        created_at_ms: hook.created_at_ms,
    }))
}

#[derive(Deserialize, ToSchema)]
struct WebhookBody {
    #[schema(example = "https://shop.example/scanquote-webhook")]
    url: String,
}

/// Sets the webhook's URL with a new secret, shown in this answer only.
#[utoipa::path(put, path = "/api/admin/webhook", tag = "admin", security(("admin_token" = [])), request_body = WebhookBody,
    responses((status = 200, body = NewWebhook), (status = 400, body = ErrorBody)))]
async fn put_webhook(
    State(domain): State<Domain>,
    AdminChange(body): AdminChange<WebhookBody>,
) -> Result<Json<NewWebhook>, AppError> {
    Ok(Json(domain.webhooks.set(&body.url).await?))
}

/// Turns the webhook off.
#[utoipa::path(delete, path = "/api/admin/webhook", tag = "admin", security(("admin_token" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn delete_webhook(
    _: AdminAction,
    State(domain): State<Domain>,
) -> Result<StatusCode, AppError> {
    domain.webhooks.delete().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Latest {
    limit: Option<String>,
}

/// The latest webhook events and how their tries went, newest first.
#[utoipa::path(get, path = "/api/admin/webhook/events", tag = "admin", security(("admin_token" = [])),
    params(("limit" = Option<u64>, Query, description = "1–200, default 50")),
    responses((status = 200, body = [EventView]), (status = 401, body = ErrorBody)))]
async fn webhook_events(
    _: Admin,
    State(domain): State<Domain>,
    Query(q): Query<Latest>,
) -> Result<Json<Vec<EventView>>, AppError> {
    let limit = query::number(q.limit.as_deref(), "limit", 1, 200, 50)?;
    Ok(Json(views::events(&domain.db, limit).await?))
}

/// Sends an event again (same body, same id).
#[utoipa::path(post, path = "/api/admin/webhook/events/{id}/resend", tag = "admin", security(("admin_token" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = EventView), (status = 404, body = ErrorBody)))]
async fn resend_webhook_event(
    _: AdminAction,
    State(domain): State<Domain>,
    Path(id): Path<i64>,
) -> Result<Json<EventView>, AppError> {
    Ok(Json(views::resend_event(&domain, id).await?))
}

/// The latest scans of codes this service did not make ("其他二维码").
#[utoipa::path(get, path = "/api/admin/foreign-scans", tag = "admin", security(("admin_token" = [])),
    params(("limit" = Option<u64>, Query, description = "1–500, default 50")),
    responses((status = 200, body = [ForeignScan]), (status = 401, body = ErrorBody)))]
async fn list_foreign_scans(
    _: Admin,
    State(domain): State<Domain>,
    Query(q): Query<Latest>,
) -> Result<Json<Vec<ForeignScan>>, AppError> {
    let limit = query::number(q.limit.as_deref(), "limit", 1, 500, 50)?;
    Ok(Json(foreign_scans(&domain.db, limit).await?))
}
