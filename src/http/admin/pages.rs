//! The console's pages: login, and one page with the message template (edit, preview,
//! versions), the deliveries (filter, pages, retry, CSV) and the scene replies. Every
//! form that changes something carries the session's CSRF token.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, SET_COOKIE};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::api::check_status;
use super::auth::{Admin, COOKIE_NAME};
use crate::http::limit::Throttle;
use crate::promoters;
use crate::quote::deliveries::{self, status_counts};
use crate::quote::mode::{self, DeliveryMode};
use crate::quote::orders::find_order;
use crate::quote::template_versions::{self, TemplateParts};
use crate::replies::{list_replies, save_reply};
use crate::wechat::message::Article;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/template", post(edit_template))
        .route("/admin/template/{id}/restore", post(restore_template))
        .route("/admin/deliveries/{id}/retry", post(retry_delivery))
        .route("/admin/scene-replies", post(add_scene_reply))
        .route("/admin/promoters", post(add_promoter))
        .route("/admin/promoters/{promoter}/qrcode.png", get(promoter_png))
        .route("/admin/promoters/{promoter}/qrcode.svg", get(promoter_svg))
        .route("/admin/settings", post(change_settings))
}

const PER_PAGE: u64 = 20;

fn login_page(
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, AppError> {
    Ok((
        status,
        state.pages.render("admin_login.html", context! { error })?,
    )
        .into_response())
}

#[derive(Deserialize, Default)]
struct DashboardQuery {
    status: Option<String>,
    page: Option<u64>,
}

/// What a form hands back to the page besides the stored state.
#[derive(Default)]
struct Feedback {
    error: Option<String>,
    draft: Option<TemplateParts>,
    preview: Option<Article>,
    order_id: Option<i64>,
}

async fn dashboard(
    admin: Result<Admin, AppError>,
    State(state): State<AppState>,
    Query(q): Query<DashboardQuery>,
) -> Result<Response, AppError> {
    let Ok(admin) = admin else {
        return login_page(&state, StatusCode::OK, None);
    };
    render_dashboard(&state, &admin, &q, Feedback::default()).await
}

async fn render_dashboard(
    state: &AppState,
    admin: &Admin,
    q: &DashboardQuery,
    feedback: Feedback,
) -> Result<Response, AppError> {
    let status = check_status(q.status.as_deref()).unwrap_or(None);
    let page = q.page.unwrap_or(0);
    let (deliveries, total) = deliveries::page(&state.db, status, page, PER_PAGE).await?;
    let versions = template_versions::versions(&state.db, 10).await?;
    let draft = feedback
        .draft
        .or_else(|| versions.first().map(|v| v.parts.clone()));
    let status_code = if feedback.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page_html: Html<String> = state.pages.render(
        "admin.html",
        context! {
            csrf => admin.csrf(),
            counts => status_counts(&state.db).await?,
            deliveries,
            status,
            page,
            has_next => (page + 1) * PER_PAGE < total,
            total,
            replies => list_replies(&state.db).await?,
            promoters => promoter_rows(state).await?,
            remaining_codes => promoters::PERMANENT_CODE_LIMIT.saturating_sub(promoters::permanent_codes_used(&state.db).await?),
            delivery_mode => mode::current(&state.db, &state.delivery_mode).await?,
            versions,
            draft,
            preview => feedback.preview,
            order_id => feedback.order_id,
            error => feedback.error,
        },
    )?;
    Ok((status_code, [("cache-control", "no-store")], page_html).into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    token: Option<String>,
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = if state.base_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

async fn login(
    _: Throttle,
    State(state): State<AppState>,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let token = form.token.unwrap_or_default();
    if !state.admin.accepts(token.trim()) {
        tracing::warn!("admin login refused");
        return login_page(&state, StatusCode::UNAUTHORIZED, Some("令牌不正确"));
    }
    let session = state.admin.new_session();
    Ok((
        [(SET_COOKIE, cookie(&state, &session, 12 * 3600))],
        Redirect::to("/admin"),
    )
        .into_response())
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn logout(
    admin: Admin,
    State(state): State<AppState>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    admin.check_csrf(form.csrf.as_deref())?;
    Ok((
        [(SET_COOKIE, cookie(&state, "", 0))],
        Redirect::to("/admin"),
    )
        .into_response())
}

#[derive(Deserialize)]
struct TemplateForm {
    csrf: Option<String>,
    action: Option<String>,
    title: Option<String>,
    description: Option<String>,
    pic_url: Option<String>,
    link: Option<String>,
    order_id: Option<String>,
}

/// Saves the template, or previews it against an order: either way a refused template
/// comes back with its error and the draft, and the version in force stays.
async fn edit_template(
    admin: Admin,
    State(state): State<AppState>,
    Form(form): Form<TemplateForm>,
) -> Result<Response, AppError> {
    admin.check_csrf(form.csrf.as_deref())?;
    let parts = TemplateParts {
        title: form.title.unwrap_or_default(),
        description: form.description.unwrap_or_default(),
        pic_url: form.pic_url.unwrap_or_default(),
        link: form.link.unwrap_or_default(),
    };
    let order_id = form
        .order_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse::<i64>);
    let mut feedback = Feedback {
        draft: Some(parts.clone()),
        ..Default::default()
    };
    let result = match (form.action.as_deref(), order_id) {
        (_, Some(Err(_))) => Err(AppError::bad_field("order_id", "must be an order number")),
        (Some("preview"), order_id) => {
            let order = match order_id {
                Some(Ok(id)) => match find_order(&state.db, id).await {
                    Ok(order) => Some(order),
                    Err(AppError::NotFound) => {
                        return render_error(
                            &state,
                            &admin,
                            feedback,
                            "order_id: 没有这个订单".into(),
                        )
                        .await;
                    }
                    Err(e) => return Err(e),
                },
                _ => None,
            };
            feedback.order_id = order.as_ref().map(|o| o.id);
            template_versions::preview(&parts, order.as_ref(), &state.base_url)
                .map(|a| feedback.preview = Some(a))
        }
        _ => match template_versions::save(&state, &parts).await {
            Ok(_) => return Ok(Redirect::to("/admin#template").into_response()),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => render_dashboard(&state, &admin, &DashboardQuery::default(), feedback).await,
        Err(AppError::BadRequest { field, reason }) => {
            render_error(&state, &admin, feedback, refusal(field, reason)).await
        }
        Err(e) => Err(e),
    }
}

/// How a refused input reads on the page: the field, then why. Template errors already
/// start with their part and line, so the part is not said twice.
fn refusal(field: Option<&'static str>, reason: String) -> String {
    match field {
        Some(f) if !reason.starts_with(f) => format!("{f}: {reason}"),
        _ => reason,
    }
}

/// The end of a form that changes one thing: back to its section when it worked, the
/// page with the reason when the input was refused or the change is not possible now.
async fn after_form<T>(
    state: &AppState,
    admin: &Admin,
    result: Result<T, AppError>,
    section: &str,
) -> Result<Response, AppError> {
    match result {
        Ok(_) => Ok(Redirect::to(section).into_response()),
        Err(AppError::BadRequest { field, reason }) => {
            render_error(state, admin, Feedback::default(), refusal(field, reason)).await
        }
        Err(AppError::Conflict(reason)) => {
            render_error(state, admin, Feedback::default(), reason).await
        }
        Err(e) => Err(e),
    }
}

async fn render_error(
    state: &AppState,
    admin: &Admin,
    mut feedback: Feedback,
    error: String,
) -> Result<Response, AppError> {
    feedback.error = Some(error);
    render_dashboard(state, admin, &DashboardQuery::default(), feedback).await
}

async fn restore_template(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    admin.check_csrf(form.csrf.as_deref())?;
    template_versions::restore(&state, id).await?;
    Ok(Redirect::to("/admin#template").into_response())
}

async fn retry_delivery(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    admin.check_csrf(form.csrf.as_deref())?;
    let retried = deliveries::retry(&state, id).await;
    after_form(&state, &admin, retried, "/admin#deliveries").await
}

#[derive(Deserialize)]
struct ReplyForm {
    csrf: Option<String>,
    scene: Option<String>,
    text: Option<String>,
}

async fn add_scene_reply(
    admin: Admin,
    State(state): State<AppState>,
    Form(form): Form<ReplyForm>,
) -> Result<Response, AppError> {
    admin.check_csrf(form.csrf.as_deref())?;
    let scene = form.scene.unwrap_or_default();
    let saved = save_reply(&state, scene.trim(), &form.text.unwrap_or_default()).await;
    after_form(&state, &admin, saved, "/admin#replies").await
}

/// Each promoter with their counts and 30-day chart.
async fn promoter_rows(state: &AppState) -> Result<Vec<minijinja::Value>, AppError> {
    let mut rows = Vec::new();
    for p in promoters::list(&state.db).await? {
        let days = promoters::last_30_days(&state.db, &p.promoter).await?;
        rows.push(context! {
            promoter => p.promoter.clone(),
            scans => p.scans,
            new_followers => p.new_followers,
            chart => minijinja::Value::from_safe_string(promoters::chart_svg(&days)),
        });
    }
    Ok(rows)
}

#[derive(Deserialize)]
struct PromoterForm {
    csrf: Option<String>,
    promoter: Option<String>,
}

async fn add_promoter(
    admin: Admin,
    State(state): State<AppState>,
    Form(form): Form<PromoterForm>,
) -> Result<Response, AppError> {
    admin.check_csrf(form.csrf.as_deref())?;
    let created = promoters::create(&state, form.promoter.as_deref().unwrap_or_default()).await;
    after_form(&state, &admin, created, "/admin#promoters").await
}

async fn promoter_code(state: &AppState, promoter: &str) -> Result<qrcode::QrCode, AppError> {
    let code = promoters::find_code(&state.db, promoter)
        .await?
        .ok_or(AppError::NotFound)?;
    qrcode::QrCode::new(code.url.as_bytes())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding the code: {e}")))
}

async fn promoter_png(
    _: Admin,
    State(state): State<AppState>,
    Path(promoter): Path<String>,
) -> Result<Response, AppError> {
    let png = crate::http::qrcode::encode_png(&promoter_code(&state, &promoter).await?)?;
    let disposition = format!("attachment; filename=\"promoter-{promoter}.png\"");
    Ok((
        [
            (CONTENT_TYPE, "image/png".to_owned()),
            (CONTENT_DISPOSITION, disposition),
        ],
        png,
    )
        .into_response())
}

async fn promoter_svg(
    _: Admin,
    State(state): State<AppState>,
    Path(promoter): Path<String>,
) -> Result<Response, AppError> {
    let svg = promoter_code(&state, &promoter)
        .await?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .build();
    let disposition = format!("attachment; filename=\"promoter-{promoter}.svg\"");
    Ok((
        [
            (CONTENT_TYPE, "image/svg+xml".to_owned()),
            (CONTENT_DISPOSITION, disposition),
        ],
        svg,
    )
        .into_response())
}

#[derive(Deserialize)]
struct SettingsForm {
    csrf: Option<String>,
    delivery_mode: Option<String>,
}

async fn change_settings(
    admin: Admin,
    State(state): State<AppState>,
    Form(form): Form<SettingsForm>,
) -> Result<Response, AppError> {
    admin.check_csrf(form.csrf.as_deref())?;
    let mode = match form.delivery_mode.as_deref() {
        Some("customer_service") => DeliveryMode::CustomerService,
        Some("passive_reply") => DeliveryMode::PassiveReply,
        _ => {
            return render_error(
                &state,
                &admin,
                Feedback::default(),
                "delivery_mode: 请选择一种发送方式".into(),
            )
            .await;
        }
    };
    mode::set(&state.db, &state.delivery_mode, mode).await?;
    Ok(Redirect::to("/admin#mode").into_response())
}
