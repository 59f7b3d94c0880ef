//! The delivery mode form.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde::Deserialize;

use super::AdminForm;
use super::dashboard::{Feedback, refused};
use crate::quote::settings::DeliveryMode;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/settings", post(change_settings))
}

#[derive(Deserialize)]
struct SettingsForm {
    delivery_mode: Option<String>,
}

async fn change_settings(
    State(app): State<AppState>,
    AdminForm { admin, form }: AdminForm<SettingsForm>,
) -> Result<Response, AppError> {
    let mode = match form.delivery_mode.as_deref() {
        Some("customer_service") => DeliveryMode::CustomerService,
        Some("passive_reply") => DeliveryMode::PassiveReply,
        _ => {
            let why = "delivery_mode: 请选择一种发送方式".into();
            return refused(&app, &admin, Feedback::default(), why).await;
        }
    };
    app.domain.delivery_mode.set(mode).await?;
    Ok(Redirect::to("/admin#mode").into_response())
}
