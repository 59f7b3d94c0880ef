//! The delivery mode page.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;

use super::AdminForm;
use super::console::{self, Done, Said, Section};
use crate::http::admin::auth::Admin;
use crate::http::extract::Query;
use crate::quote::settings::DeliveryMode;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/settings", get(show).post(change))
}

async fn render(app: &AppState, admin: &Admin, said: Said) -> Result<Response, AppError> {
    let ctx = context! {
        delivery_mode => app.domain.delivery_mode.current().await?,
        guarantee => app.domain.guarantee.as_str(),
    };
    console::page(
        app,
        admin,
        Section::Settings,
        "admin_settings.html",
        ctx,
        said,
    )
    .await
}

async fn show(
    admin: Admin,
    State(app): State<AppState>,
    Query(q): Query<Done>,
) -> Result<Response, AppError> {
    render(&app, &admin, Said::done(q.done.as_deref())).await
}

#[derive(Deserialize)]
struct SettingsForm {
    delivery_mode: Option<String>,
}

async fn change(
    State(app): State<AppState>,
    AdminForm { admin, form }: AdminForm<SettingsForm>,
) -> Result<Response, AppError> {
    let mode = match form.delivery_mode.as_deref() {
        Some("customer_service") => DeliveryMode::CustomerService,
        Some("passive_reply") => DeliveryMode::PassiveReply,
        _ => return render(&app, &admin, Said::refused("请选择一种发送方式")).await,
    };
    app.domain.delivery_mode.set(mode).await?;
    Ok(console::done(Section::Settings, "saved"))
}
