//! The demo shop's side: its landing page with the quote form, and the shopper's order
//! page with the QR code and its live status.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;

use super::figures::figures;
use crate::http::limit::Throttle;
use crate::http::web::Web;
use crate::quote::Domain;
use crate::quote::orders::{FieldText, NewOrder, parse_order_id};
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index).post(create_from_form))
        .route("/orders/{id}", get(show_order_page))
}

async fn index(State(web): State<Web>) -> Result<Html<String>, AppError> {
    web.pages
        .render("index.html", context! { sandbox => web.sandbox() })
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
    State(domain): State<Domain>,
    State(web): State<Web>,
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
            let order = domain.orders.create(new).await?;
            Ok(Redirect::to(&format!("/orders/{}", order.id)).into_response())
        }
        Err(refused) => {
            let page = web.pages.render(
                "index.html",
                context! {
                    sandbox => web.sandbox(),
                    error => format!("{}{}", refused.field.map(label).unwrap_or(""), refused.problem.zh()),
                    total_money => form.total_money, saved_money => form.saved_money, room_area => form.room_area,
                },
            )?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
    }
}

/// The form's label of a field.
fn label(field: &'static str) -> &'static str {
    match field {
        "total_money" => "报价",
        "saved_money" => "节省金额",
        "room_area" => "套内面积",
        _ => field,
    }
}

#[derive(Deserialize)]
struct OrderPageQuery {
    embed: Option<String>,
}

/// The shopper's page; `?embed=1` is the compact card a shop puts in an iframe on its
/// own site (and only that variant may be framed by other sites).
async fn show_order_page(
    State(domain): State<Domain>,
    State(web): State<Web>,
    Path(id): Path<String>,
    Query(q): Query<OrderPageQuery>,
) -> Result<Response, AppError> {
    let embed = matches!(q.embed.as_deref(), Some("1" | "true"));
    let order = match parse_order_id(&id) {
        Ok(id) => domain.orders.find(id).await,
        Err(e) => Err(e),
    };
    let order = match order {
        Ok(order) => order,
        Err(AppError::NotFound) => return Ok(web.pages.not_found()),
        Err(e) => return Err(e),
    };
    let page = web.pages.render(
        "order.html",
        context! { order => figures(&order), sandbox => web.sandbox(), embed },
    )?;
    let frame = if embed {
        "frame-ancestors *"
    } else {
        "frame-ancestors 'self'"
    };
    Ok(([("content-security-policy", frame)], page).into_response())
}
