//! One channel code's page: its picture (to print in three sizes, with its name), its
//! numbers over 7, 30 or 90 days (chart with numbers, a table, CSV), what a scan does
//! (edited in place), and disabling or deleting it, asked first. In sandbox mode, a
//! link scans it with the sandbox's phone.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::channel_codes::{SettingsForm, row};
use super::console::{self, Said, Section, refusal};
use super::{AdminForm, NoFields};
use crate::http::admin::api::channel_codes::code_id;
use crate::http::admin::auth::Admin;
use crate::http::extract::{Path, Query};
use crate::quote::codes::channel::action::Action;
use crate::quote::codes::channel::list::view;
use crate::quote::codes::channel::stats::{self, chart_svg};
use crate::quote::codes::channel::{self, Change};
use crate::{AppError, AppState, images};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/channel-codes/{id}", get(show).post(edit))
        .route("/admin/channel-codes/{id}/enable", post(enable))
        .route("/admin/channel-codes/{id}/disable", post(disable))
        .route("/admin/channel-codes/{id}/delete", post(delete))
}

#[derive(Debug, Default, Deserialize)]
struct DetailQuery {
    days: Option<String>,
    done: Option<String>,
}

/// The periods the page offers.
const PERIODS: [u32; 3] = [7, 30, 90];

/// A reply or welcome as the edit form shows it.
fn action_form(action: Option<&Action>) -> minijinja::Value {
    match action {
        None => context! { kind => "none" },
        Some(Action::Text(text)) => context! { kind => "text", text },
        Some(Action::News(n)) => context! {
            kind => "news", title => n.title.clone(), description => n.description.clone(),
            url => n.url.clone(), pic_url => n.pic_url.clone(),
        },
    }
}

async fn render(
    app: &AppState,
    admin: &Admin,
    id: i64,
    days: u32,
    said: Said,
) -> Result<Response, AppError> {
    let db = &app.domain.db;
    let code = channel::get(db, id).await?;
    let s = stats::stats(db, &[code.qr_code_id], days).await?;
    let v = view(db, &app.domain.base_url, code).await?;
    let sandbox_scan = app
        .sandbox
        .as_ref()
        .map(|_| format!("/sandbox?ticket={}", urlencoding::encode(&v.ticket)));
    let ctx = context! {
        code => row(&v),
        deleted => v.deleted_at_ms.is_some(), enabled => v.enabled,
        reply => action_form(v.reply.as_ref()), welcome => action_form(v.welcome.as_ref()),
        png => format!("/api/admin/channel-codes/{id}.png"),
        svg => format!("/api/admin/channel-codes/{id}.svg"),
        sizes => images::PRINT_SIZES,
        csv => format!("/api/admin/channel-codes/{id}/stats.csv?days={days}"),
        url => v.url.clone(), scene => v.scene.clone(),
        totals => s.totals, days, periods => PERIODS,
        chart => minijinja::Value::from_safe_string(chart_svg(&s.days)),
        day_rows => s.days.iter().rev().map(|d| context! { date => d.date.clone(), n => d.numbers }).collect::<Vec<_>>(),
        sandbox_scan,
    };
    console::page(
        app,
        admin,
        Section::Codes,
        "admin_channel_code.html",
        ctx,
        said,
    )
    .await
}

fn period(q: &DetailQuery) -> u32 {
    q.days
        .as_deref()
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|d| (1..=stats::MAX_DAYS).contains(d))
        .unwrap_or(30)
}

async fn show(
    admin: Admin,
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, AppError> {
    let id = code_id(&id)?;
    render(&app, &admin, id, period(&q), Said::done(q.done.as_deref())).await
}

#[derive(Debug, Default, Deserialize)]
struct EditForm {
    name: Option<String>,
    #[serde(flatten)]
    settings: SettingsForm,
}

fn back(id: i64, done: &str) -> Response {
    Redirect::to(&format!("/admin/channel-codes/{id}?done={done}")).into_response()
}

async fn after(
    app: &AppState,
    admin: &Admin,
    id: i64,
    done: &str,
    result: Result<(), AppError>,
) -> Result<Response, AppError> {
    match result {
        Ok(()) => Ok(back(id, done)),
        Err(e) => render(app, admin, id, 30, refusal(e)?).await,
    }
}

async fn edit(
    State(app): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<EditForm>,
) -> Result<Response, AppError> {
    let id = code_id(&id)?;
    let changed = async {
        let mut settings = form.settings;
        let change = Change {
            name: form.name,
            reply: Some(settings.reply()?),
            welcome: Some(settings.welcome()?),
            group: Some(settings.group),
            note: Some(settings.note),
            tag: Some(settings.tag),
            enabled: None,
        };
        channel::update(&app.domain, id, change).await.map(drop)
    }
    .await;
    after(&app, &admin, id, "saved", changed).await
}

async fn set_enabled(
    app: &AppState,
    admin: &Admin,
    id: &str,
    enabled: bool,
) -> Result<Response, AppError> {
    let id = code_id(id)?;
    let change = Change {
        enabled: Some(enabled),
        ..Change::default()
    };
    let changed = channel::update(&app.domain, id, change).await.map(drop);
    after(
        app,
        admin,
        id,
        if enabled { "enabled" } else { "disabled" },
        changed,
    )
    .await
}

async fn enable(
    State(app): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Result<Response, AppError> {
    set_enabled(&app, &admin, &id, true).await
}

async fn disable(
    State(app): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Result<Response, AppError> {
    set_enabled(&app, &admin, &id, false).await
}

async fn delete(
    State(app): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Result<Response, AppError> {
    let id = code_id(&id)?;
    let deleted = channel::delete(&app.domain, id).await;
    after(&app, &admin, id, "deleted", deleted).await
}
