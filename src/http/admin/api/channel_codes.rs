//! `/api/admin/channel-codes`: channel codes (渠道码) for scripts and the console: list
//! (filtered), create, batch, change, disable, delete, their numbers by day (JSON and
//! CSV), and their pictures ([`super::channel_images`]: PNG to print, SVG, a zip of all).
//!
//! The promoter and scene-reply routes of earlier versions (`/api/admin/promoters`,
//! `/api/admin/scene-replies`) are gone: their codes became channel codes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::channel_images;
use super::{AdminAction, AdminChange};
use crate::http::admin::auth::Admin;
use crate::http::csv::Csv;
use crate::http::error::ErrorBody;
use crate::http::extract::{Path, Query};
use crate::quote::Domain;
use crate::quote::codes::channel::action::Action;
use crate::quote::codes::channel::list::{ChannelCodeView, Filter, list, view};
use crate::quote::codes::channel::stats::{self, Stats};
use crate::quote::codes::channel::{self, Change, Settings, State as CodeState, Validity};
use crate::quote::codes::permanent::{self, PERMANENT_CODE_LIMIT};
use crate::{AppError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_codes, create_code))
        .routes(routes!(create_batch))
        .routes(routes!(one_code, change_code, delete_code))
        .routes(routes!(code_stats))
        .routes(routes!(code_stats_csv))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this group's codes.
    group: Option<String>,
    /// `active`, `expired`, `disabled` or `deleted`.
    state: Option<String>,
    /// A word of the name or the note.
    q: Option<String>,
}

/// What the list says besides the codes: the account's permanent codes.
#[derive(Serialize, ToSchema)]
struct CodeList {
    permanent_used: u64,
    permanent_limit: u64,
    codes: Vec<ChannelCodeView>,
}

/// Reads a filter as the API and the console take it.
pub fn filter(
    group: Option<String>,
    state: Option<String>,
    q: Option<String>,
) -> Result<Filter, AppError> {
    let state = match state.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(CodeState::parse(s).ok_or_else(|| {
            AppError::bad_field("state", "状态须为 active、expired、disabled 或 deleted")
        })?),
    };
    let some = |t: Option<String>| t.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    Ok(Filter {
        group: some(group),
        state,
        q: some(q),
    })
}

#[utoipa::path(get, path = "/api/admin/channel-codes", tag = "admin", security(("admin_token" = [])), params(ListQuery),
    responses((status = 200, body = CodeList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_codes(
    _: Admin,
    State(domain): State<Domain>,
    Query(q): Query<ListQuery>,
) -> Result<Json<CodeList>, AppError> {
    let filter = filter(q.group, q.state, q.q)?;
    Ok(Json(CodeList {
        permanent_used: permanent::used(&domain.db).await?,
        permanent_limit: PERMANENT_CODE_LIMIT,
        codes: list(&domain.db, &domain.base_url, &filter).await?,
    }))
}

/// A new code's settings, as the API takes them.
#[derive(Deserialize, ToSchema)]
struct NewCode {
    /// Any text, 1–64 characters, unique among codes not deleted.
    name: String,
    group: Option<String>,
    note: Option<String>,
    /// `"permanent"`, or seconds from 60 to 2592000 (30 days).
    #[schema(value_type = Object, example = "permanent")]
    validity: serde_json::Value,
    /// Sent to every scanner (to existing followers only, when there is a welcome).
    reply: Option<Action>,
    /// Sent to new followers.
    welcome: Option<Action>,
    /// A WeChat tag put on every scanner.
    tag: Option<String>,
}

#[utoipa::path(post, path = "/api/admin/channel-codes", tag = "admin", security(("admin_token" = [])), request_body = NewCode,
    responses((status = 201, body = ChannelCodeView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn create_code(
    State(domain): State<Domain>,
    AdminChange(req): AdminChange<NewCode>,
) -> Result<Response, AppError> {
    let validity = Validity::parse(&req.validity)?;
    let settings = Settings {
        group: req.group,
        note: req.note,
        reply: req.reply,
        welcome: req.welcome,
        tag: req.tag,
    };
    let code = channel::create(&domain, &req.name, validity, settings).await?;
    let view = view(&domain.db, &domain.base_url, code).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// A batch: `prefix-01` … with the same settings. The settings are spelled out here
/// and in [`NewCode`] rather than shared through `#[serde(flatten)]`: flattened
/// fields lose their name in a refusal ("reply: 类型不对" becomes a nameless one).
#[derive(Deserialize, ToSchema)]
struct NewBatch {
    prefix: String,
    /// 1–100.
    count: u32,
    group: Option<String>,
    note: Option<String>,
    #[schema(value_type = Object, example = "permanent")]
    validity: serde_json::Value,
    reply: Option<Action>,
    welcome: Option<Action>,
    tag: Option<String>,
}

#[utoipa::path(post, path = "/api/admin/channel-codes/batch", tag = "admin", security(("admin_token" = [])), request_body = NewBatch,
    responses((status = 201, body = [ChannelCodeView]), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_batch(
    State(domain): State<Domain>,
    AdminChange(req): AdminChange<NewBatch>,
) -> Result<Response, AppError> {
    let validity = Validity::parse(&req.validity)?;
    let settings = Settings {
        group: req.group,
        note: req.note,
        reply: req.reply,
        welcome: req.welcome,
        tag: req.tag,
    };
    let made = channel::batch::make(&domain, &req.prefix, req.count, validity, settings).await?;
    let views =
        crate::quote::codes::channel::list::views(&domain.db, &domain.base_url, made).await?;
    Ok((StatusCode::CREATED, Json(views)).into_response())
}

/// The id in a path, refused in Chinese when it is not one.
pub fn code_id(text: &str) -> Result<i64, AppError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(AppError::NotFound)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ImageQuery {
    /// The PNG's width: 430, 860 or 1280 pixels (430 when not given).
    size: Option<u32>,
    /// `1`: the code's name printed under it.
    label: Option<u8>,
    group: Option<String>,
    state: Option<String>,
    q: Option<String>,
}

/// `{id}` (the code), `{id}.png`, `{id}.svg` or `export.zip`, all under one route
/// since a path segment is matched whole.
#[utoipa::path(get, path = "/api/admin/channel-codes/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path, description = "a code's id; `{id}.png` or `{id}.svg` for its picture; `export.zip` for all"), ImageQuery),
    responses((status = 200, body = ChannelCodeView), (status = 200, content_type = "image/png", body = Vec<u8>), (status = 200, content_type = "application/zip", body = Vec<u8>), (status = 404, body = ErrorBody)))]
async fn one_code(
    _: Admin,
    State(domain): State<Domain>,
    Path(key): Path<String>,
    Query(q): Query<ImageQuery>,
) -> Result<Response, AppError> {
    if key == "export.zip" {
        let filter = filter(q.group, q.state, q.q)?;
        return channel_images::zip(&domain, &filter).await;
    }
    if let Some(id) = key.strip_suffix(".png") {
        let size = channel_images::print_size(q.size)?;
        let code = channel::get(&domain.db, code_id(id)?).await?;
        return channel_images::png(&domain, &code, size, q.label == Some(1)).await;
    }
    if let Some(id) = key.strip_suffix(".svg") {
        let code = channel::get(&domain.db, code_id(id)?).await?;
        return channel_images::svg(&domain, &code).await;
    }
    let code = channel::get(&domain.db, code_id(&key)?).await?;
    Ok(Json(view(&domain.db, &domain.base_url, code).await?).into_response())
}

/// `Some(value)` for a field given (null included), so a change tells "clear it" from
/// "leave it".
fn given<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What to change; a field left out stays as it is, `null` clears it.
#[derive(Deserialize, ToSchema)]
struct CodeChange {
    name: Option<String>,
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    group: Option<Option<String>>,
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    note: Option<Option<String>>,
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<Action>)]
    reply: Option<Option<Action>>,
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<Action>)]
    welcome: Option<Option<Action>>,
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    tag: Option<Option<String>>,
    /// `false`: scans are recorded and nothing is sent.
    enabled: Option<bool>,
}

#[utoipa::path(patch, path = "/api/admin/channel-codes/{id}", tag = "admin", security(("admin_token" = [])), params(("id" = i64, Path)), request_body = CodeChange,
    responses((status = 200, body = ChannelCodeView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn change_code(
    State(domain): State<Domain>,
    Path(key): Path<String>,
    AdminChange(req): AdminChange<CodeChange>,
) -> Result<Json<ChannelCodeView>, AppError> {
    let change = Change {
        name: req.name,
        group: req.group,
        note: req.note,
        reply: req.reply,
        welcome: req.welcome,
        tag: req.tag,
        enabled: req.enabled,
    };
    let code = channel::update(&domain, code_id(&key)?, change).await?;
    Ok(Json(view(&domain.db, &domain.base_url, code).await?))
}

#[utoipa::path(delete, path = "/api/admin/channel-codes/{id}", tag = "admin", security(("admin_token" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_code(
    _: AdminAction,
    State(domain): State<Domain>,
    Path(key): Path<String>,
) -> Result<StatusCode, AppError> {
    channel::delete(&domain, code_id(&key)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StatsQuery {
    /// How many Beijing days, today included (1–366; 30 when not given).
    days: Option<u32>,
}

fn days(q: &StatsQuery) -> Result<u32, AppError> {
    match q.days {
        None => Ok(30),
        Some(d @ 1..=stats::MAX_DAYS) => Ok(d),
        Some(_) => Err(AppError::bad_field("days", "天数须在 1 到 366 之间")),
    }
}

#[utoipa::path(get, path = "/api/admin/channel-codes/{id}/stats", tag = "admin", security(("admin_token" = [])), params(("id" = i64, Path), StatsQuery),
    responses((status = 200, body = Stats), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn code_stats(
    _: Admin,
    State(domain): State<Domain>,
    Path(id): Path<String>,
    Query(q): Query<StatsQuery>,
) -> Result<Json<Stats>, AppError> {
    let days = days(&q)?;
    let code = channel::get(&domain.db, code_id(&id)?).await?;
    Ok(Json(
        stats::stats(&domain.db, &[code.qr_code_id], days).await?,
    ))
}

#[utoipa::path(get, path = "/api/admin/channel-codes/{id}/stats.csv", tag = "admin", security(("admin_token" = [])), params(("id" = i64, Path), StatsQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
async fn code_stats_csv(
    _: Admin,
    State(domain): State<Domain>,
    Path(id): Path<String>,
    Query(q): Query<StatsQuery>,
) -> Result<Response, AppError> {
    let days = days(&q)?;
    let code = channel::get(&domain.db, code_id(&id)?).await?;
    let stats = stats::stats(&domain.db, &[code.qr_code_id], days).await?;
    let mut csv = Csv::new(&[
        "日期（北京时间）",
        "扫码次数",
        "扫码人数",
        "新关注",
        "已关注",
        "取消关注",
    ]);
    for day in stats.days.iter().rev() {
        let n = day.numbers;
        csv.row(&[
            day.date.clone(),
            n.scans.to_string(),
            n.scanners.to_string(),
            n.new_followers.to_string(),
            n.existing_followers.to_string(),
            n.unfollows.to_string(),
        ]);
    }
    let t = stats.totals;
    csv.row(&[
        "合计".to_owned(),
        t.scans.to_string(),
        t.scanners.to_string(),
        t.new_followers.to_string(),
        t.existing_followers.to_string(),
        t.unfollows.to_string(),
    ]);
    Ok(csv.download(&format!("渠道码-{}.csv", code.name)))
}
