//! Server-rendered pages: the landing page (create a demo quote), the shopper's order
//! page with its QR code, and the quote page that the message links to.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, SET_COOKIE, USER_AGENT};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{FixedOffset, TimeZone};
use minijinja::{Environment, context};
use serde::Deserialize;

use super::limit::Throttle;
use crate::quote::authorization;
use crate::quote::orders::{
    self, FieldText, NewOrder, OrderView, create_order, find_order, parse_order_id,
};
use crate::quote::profiles::profile_for;
use crate::{AppError, AppState};

/// The page templates, compiled once.
#[derive(Clone)]
pub struct Pages {
    env: Arc<Environment<'static>>,
}

impl Pages {
    pub fn new() -> Self {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("../../templates/base.html")),
            ("index.html", include_str!("../../templates/index.html")),
            ("order.html", include_str!("../../templates/order.html")),
            ("quote.html", include_str!("../../templates/quote.html")),
            (
                "not_found.html",
                include_str!("../../templates/not_found.html"),
            ),
            ("sandbox.html", include_str!("../../templates/sandbox.html")),
            (
                "sandbox_inbox.html",
                include_str!("../../templates/sandbox_inbox.html"),
            ),
            ("admin.html", include_str!("../../templates/admin.html")),
            (
                "sandbox_consent.html",
                include_str!("../../templates/sandbox_consent.html"),
            ),
            (
                "admin_login.html",
                include_str!("../../templates/admin_login.html"),
            ),
        ] {
            env.add_template(name, source)
                .expect("page templates compile");
        }
        Pages { env: Arc::new(env) }
    }

    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Result<Html<String>, AppError> {
        let page = self.env.get_template(name).and_then(|t| t.render(ctx));
        page.map(Html)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering {name}: {e:#}")))
    }
}

impl Default for Pages {
    fn default() -> Self {
        Self::new()
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index).post(create_from_form))
        .route("/orders/{id}", get(show_order_page))
        .route("/quote", get(show_quote_page))
        .route("/oauth/callback", get(oauth_callback))
        .route("/static/style.css", get(stylesheet))
        .route("/static/card.png", get(card_picture))
}

async fn index(State(state): State<AppState>) -> Result<Html<String>, AppError> {
    state.pages.render(
        "index.html",
        context! { sandbox => state.config.wechat.sandbox },
    )
}

#[derive(Deserialize)]
struct OrderForm {
    total_money: Option<String>,
    saved_money: Option<String>,
    room_area: Option<String>,
}

/// The landing page's form: the same checks as the API, errors shown on the form.
async fn create_from_form(
    _: Throttle,
    State(state): State<AppState>,
    Form(form): Form<OrderForm>,
) -> Result<Response, AppError> {
    fn text(v: &Option<String>) -> Option<FieldText<'_>> {
        v.as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(FieldText::Text)
    }
    let new = NewOrder::from_fields(
        text(&form.total_money),
        text(&form.saved_money),
        text(&form.room_area),
    );
    match new {
        Ok(new) => {
            let order = create_order(&state, new).await?;
            Ok(Redirect::to(&format!("/orders/{}", order.id)).into_response())
        }
        Err(AppError::BadRequest { field, reason }) => {
            let page = state.pages.render(
                "index.html",
                context! {
                    sandbox => state.config.wechat.sandbox,
                    error => format!("{}{}", field.map(label).unwrap_or(""), reason_zh(&reason)),
                    total_money => form.total_money, saved_money => form.saved_money, room_area => form.room_area,
                },
            )?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(e),
    }
}

fn label(field: &'static str) -> &'static str {
    match field {
        "total_money" => "报价",
        "saved_money" => "节省金额",
        "room_area" => "套内面积",
        _ => field,
    }
}

fn reason_zh(reason: &str) -> &str {
    match reason {
        "is required" => "不能为空",
        "must be a number" => "必须是数字",
        "must not be negative" => "不能为负数",
        "must have at most 2 decimal places" => "最多保留两位小数",
        "must be greater than zero" => "必须大于零",
        "is too large" => "数值过大",
        other => other,
    }
}

/// Renders the friendly 404 page for pages (the API answers JSON).
fn not_found(state: &AppState) -> Response {
    match state.pages.render("not_found.html", context! {}) {
        Ok(page) => (StatusCode::NOT_FOUND, page).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct OrderPageQuery {
    embed: Option<String>,
}

/// The shopper's page; `?embed=1` is the compact card a shop puts in an iframe on its
/// own site (and only that variant may be framed by other sites).
async fn show_order_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<OrderPageQuery>,
) -> Result<Response, AppError> {
    let embed = matches!(q.embed.as_deref(), Some("1" | "true"));
    let order = match parse_order_id(&id) {
        Ok(id) => find_order(&state.db, id).await,
        Err(e) => Err(e),
    };
    let order = match order {
        Ok(order) => order,
        Err(AppError::NotFound) => return Ok(not_found(&state)),
        Err(e) => return Err(e),
    };
    let page = state.pages.render(
        "order.html",
        context! { order => figures(&order), sandbox => state.config.wechat.sandbox, embed },
    )?;
    let frame = if embed {
        "frame-ancestors *"
    } else {
        "frame-ancestors 'self'"
    };
    Ok(([("content-security-policy", frame)], page).into_response())
}

#[derive(Deserialize)]
struct QuoteLink {
    openid: Option<String>,
    order_id: Option<String>,
    sig: Option<String>,
}

/// The message's link. Anything short of a valid signature is simply not found, so the
/// page gives nothing away about which orders or users exist.
async fn show_quote_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(link): Query<QuoteLink>,
) -> Result<Response, AppError> {
    let (Some(openid), Some(order_id), Some(sig)) = (link.openid, link.order_id, link.sig) else {
        return Ok(not_found(&state));
    };
    let Ok(order_id) = parse_order_id(&order_id) else {
        return Ok(not_found(&state));
    };
    if openid.len() > 64 || !state.links.verify(&openid, order_id, &sig) {
        return Ok(not_found(&state));
    }
    let order = match find_order(&state.db, order_id).await {
        Ok(order) => order,
        Err(AppError::NotFound) => return Ok(not_found(&state)),
        Err(e) => return Err(e),
    };
    let profile = profile_for(&state, &openid).await;
    // Inside WeChat, a page without the owner's nickname asks once for web authorization
    // (the only source of nickname and avatar left); never again in this browser if the
    // user declines, and never for anyone once the owner's profile is known.
    if profile.nickname.is_none()
        && in_wechat(&state, &headers)
        && !has_cookie(&headers, OAUTH_TRIED)
    {
        let authorize = authorization::begin(&state, &openid, order_id).await?;
        let cookie = format!("{OAUTH_TRIED}=1; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax");
        return Ok(([(SET_COOKIE, cookie)], Redirect::to(&authorize)).into_response());
    }
    let page = state.pages.render(
        "quote.html",
        context! {
            order => figures(&order),
            nickname => profile.nickname.clone(),
            avatar_url => profile.avatar_url.clone(),
            base_url => state.base_url.as_str(),
        },
    )?;
    Ok(([(CACHE_CONTROL, "private, no-store")], page).into_response())
}

const OAUTH_TRIED: &str = "sq_oauth_tried";
/// Set by the sandbox phone's in-app browser (see `sandbox::phone`).
pub const SANDBOX_IN_WECHAT: &str = "sq_sandbox_wechat";

fn has_cookie(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim().split_once('=').is_some_and(|(n, _)| n == name))
}

/// Is the page being opened inside WeChat (its in-app browser says `MicroMessenger`;
/// in sandbox mode, the sandbox phone's browser marks itself with a cookie)?
fn in_wechat(state: &AppState, headers: &HeaderMap) -> bool {
    let ua = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ua.contains("MicroMessenger")
        || (state.config.wechat.sandbox && has_cookie(headers, SANDBOX_IN_WECHAT))
}

#[derive(Deserialize)]
struct OauthReturn {
    code: Option<String>,
    state: Option<String>,
}

/// Where WeChat sends the user back after the authorize page.
async fn oauth_callback(
    State(state): State<AppState>,
    Query(back): Query<OauthReturn>,
) -> Result<Response, AppError> {
    let Some(param) = back.state else {
        return Ok(not_found(&state));
    };
    match authorization::finish(&state, &param, back.code.as_deref()).await {
        Ok((openid, order_id, outcome)) => {
            tracing::info!(?outcome, "web authorization finished");
            Ok(
                Redirect::to(&state.links.quote_url(&state.base_url, &openid, order_id))
                    .into_response(),
            )
        }
        Err(AppError::NotFound) => Ok(not_found(&state)),
        Err(e) => Err(e),
    }
}

/// The order's figures as people read them, plus the API view.
fn figures(order: &entity::order::Model) -> minijinja::Value {
    let china = FixedOffset::east_opt(8 * 3600).expect("constant offset");
    let date = china
        .timestamp_millis_opt(order.created_at_ms)
        .single()
        .map(|t| t.format("%Y年%m月%d日").to_string())
        .unwrap_or_default();
    context! {
        api => OrderView::of(order),
        id => order.id,
        total_money => orders::plain(order.total_cents),
        saved_money => orders::plain(order.saved_cents),
        market_money => orders::plain(orders::market_cents(order)),
        room_area => orders::plain(order.room_area_centi),
        building_area => orders::building_area(order),
        date => date,
    }
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/style.css"),
    )
}

/// The default card picture: a plain 900×500 banner in the page's colours (WeChat shows
/// news pictures at about 1.8:1), drawn once.
async fn card_picture() -> Response {
    static CARD: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let bytes = CARD.get_or_init(draw_card);
    (
        [
            (CONTENT_TYPE, "image/png"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        bytes.clone(),
    )
        .into_response()
}

fn draw_card() -> Vec<u8> {
    let (w, h) = (900usize, 500usize);
    let mut pixels = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            // A diagonal gradient from WeChat green to a deeper teal.
            let t = (x + y) as f32 / (w + h) as f32;
            let lerp = |a: f32, b: f32| (a + (b - a) * t) as u8;
            pixels.extend_from_slice(&[lerp(7.0, 0.0), lerp(193.0, 120.0), lerp(96.0, 110.0)]);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w as u32, h as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let written = encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&pixels));
    if let Err(e) = written {
        tracing::error!(error = %e, "could not draw the card picture");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_template_compiles() {
        let pages = Pages::new();
        for name in [
            "index.html",
            "order.html",
            "quote.html",
            "not_found.html",
            "sandbox.html",
            "sandbox_inbox.html",
            "admin.html",
            "admin_login.html",
            "sandbox_consent.html",
        ] {
            assert!(pages.env.get_template(name).is_ok(), "{name}");
        }
    }
}
