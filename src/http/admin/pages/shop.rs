//! The shop page: the name, logo, phone, address and booking page the shopper sees.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;

use super::AdminForm;
use super::console::{self, Done, Said, Section, refusal};
use crate::http::admin::auth::Admin;
use crate::http::extract::Query;
use crate::quote::shop::Shop;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/shop", get(show).post(save))
}

async fn render(
    app: &AppState,
    admin: &Admin,
    draft: Option<Shop>,
    said: Said,
) -> Result<Response, AppError> {
    let shop = match draft {
        Some(draft) => Some(draft),
        None => Option::clone(&*app.domain.shop.current().await?),
    };
    console::page(
        app,
        admin,
        Section::Shop,
        "admin_shop.html",
        context! { shop },
        said,
    )
    .await
}

async fn show(
    admin: Admin,
    State(app): State<AppState>,
    Query(q): Query<Done>,
) -> Result<Response, AppError> {
    render(&app, &admin, None, Said::done(q.done.as_deref())).await
}

#[derive(Deserialize)]
struct ShopForm {
    name: Option<String>,
    logo_url: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    booking_url: Option<String>,
}

async fn save(
    State(app): State<AppState>,
    AdminForm { admin, form }: AdminForm<ShopForm>,
) -> Result<Response, AppError> {
    let shop = Shop {
        name: form.name.unwrap_or_default(),
        logo_url: form.logo_url.unwrap_or_default(),
        phone: form.phone.unwrap_or_default(),
        address: form.address.unwrap_or_default(),
        booking_url: form.booking_url,
    };
    match app.domain.shop.set(shop.clone()).await {
        Ok(_) => Ok(console::done(Section::Shop, "saved")),
        Err(e) => render(&app, &admin, Some(shop), refusal(e)?).await,
    }
}
