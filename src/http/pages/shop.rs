//! The demo shop's side (sandbox mode, or `DEMO_SHOP`): its landing page with a quote
//! form of the schema's fields, which creates orders without a site key as the shop's
//! own server would; and the shopper's order page, by the order's token, with the QR
//! code and its live status.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;

use super::figures::{not_found, order_context, shop_context};
use crate::http::extract::{Path, Query};
use crate::http::limit::Throttle;
use crate::http::web::Web;
use crate::quote::Domain;
use crate::quote::orders::input::read_form;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index).post(create_from_form))
        .route("/orders/{token}", get(show_order_page))
}

/// What the demo form starts with for the article's own fields.
fn example(name: &str) -> &'static str {
    match name {
        "total_money" => "12800",
        "saved_money" => "3200",
        "room_area" => "88",
        _ => "",
    }
}

async fn index(
    State(domain): State<Domain>,
    State(web): State<Web>,
) -> Result<Html<String>, AppError> {
    let schema = domain.schemas.current().await?;
    let values: BTreeMap<&str, &str> = schema
        .iter()
        .map(|f| (f.name.as_str(), example(&f.name)))
        .collect();
    web.pages.render(
        "index.html",
        context! { demo => web.config.demo_shop, sandbox => web.sandbox(), schema => schema.as_ref(), values },
    )
}

/// The demo form: the same checks as the API, refusals shown on the form with what was
/// typed.
async fn create_from_form(
    _: Throttle,
    State(domain): State<Domain>,
    State(web): State<Web>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, AppError> {
    if !web.config.demo_shop {
        return not_found(&domain, &web).await;
    }
    let schema = domain.schemas.current().await?;
    match read_form(&form, &schema) {
        Ok(new) => {
            let (order, _) = domain.orders.create(None, new).await?;
            Ok(Redirect::to(&format!("/orders/{}", order.token)).into_response())
        }
        Err(refused) => {
            let page = web.pages.render(
                "index.html",
                context! {
                    demo => true, sandbox => web.sandbox(), schema => schema.as_ref(),
                    values => form, error => refused.reason,
                },
            )?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
    }
}

#[derive(Deserialize)]
struct OrderPageQuery {
    embed: Option<String>,
}

/// The shopper's page; `?embed=1` is the compact card a shop puts in an iframe on its
/// own site (which only the sites of `EMBED_ORIGINS` may frame).
async fn show_order_page(
    State(domain): State<Domain>,
    State(web): State<Web>,
    Path(token): Path<String>,
    Query(q): Query<OrderPageQuery>,
) -> Result<Response, AppError> {
    let embed = matches!(q.embed.as_deref(), Some("1" | "true"));
    let order = match domain.orders.by_token(&token).await {
        Ok(order) => order,
        Err(AppError::NotFound) => return not_found(&domain, &web).await,
        Err(e) => return Err(e),
    };
    let page = web.pages.render(
        "order.html",
        context! {
            order => order_context(&order), sandbox => web.sandbox(), embed,
            shop => shop_context(&*domain.shop.current().await?),
        },
    )?;
    let frame = if embed {
        let mut ancestors = vec!["'self'".to_owned()];
        ancestors.extend(web.config.embed_origins.iter().cloned());
        format!("frame-ancestors {}", ancestors.join(" "))
    } else {
        "frame-ancestors 'self'".to_owned()
    };
    Ok(([("content-security-policy", frame)], page).into_response())
}
