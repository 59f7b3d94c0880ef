//! The deliveries page: every message with its time (Beijing), shopper, order, status
//! and reason in words, filtered by status (the CSV keeps the filter), a page at a
//! time; a failed or unknown one can be sent again within WeChat's minute.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::console::{self, Said, Section, notice, refusal};
use super::{AdminForm, NoFields};
use crate::http::admin::api::deliveries::check_status;
use crate::http::admin::auth::Admin;
use crate::http::extract::{Path, Query};
use crate::http::query;
use crate::http::time::beijing;
use crate::quote::outbox::Status;
use crate::quote::outbox::views::{self, DeliveryView, status_counts};
use crate::{AppError, AppState};

const PER_PAGE: u64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/deliveries", get(show))
        .route("/admin/deliveries/{id}/retry", post(retry_delivery))
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    page: Option<String>,
    done: Option<String>,
}

/// `oAbc…wxyz`: enough of an openid to tell shoppers apart at a glance.
fn short_openid(openid: &str) -> String {
    let chars: Vec<char> = openid.chars().collect();
    if chars.len() <= 12 {
        return openid.to_owned();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

fn row(d: DeliveryView) -> minijinja::Value {
    context! {
        id => d.id,
        at => beijing(d.created_at_ms),
        sent_at => d.sent_at_ms.map(beijing),
        user => d.nickname.clone().unwrap_or_else(|| short_openid(&d.openid)),
        openid => d.openid,
        order => match d.kind.as_str() {
            "reply" => d.kind_zh.to_owned(),
            _ => d.external_id.clone().unwrap_or_else(|| d.order_id.map(|id| format!("#{id}")).unwrap_or_default()),
        },
        status => d.status.as_str(), status_zh => d.status_zh,
        attempts => d.attempts, reason => d.reason, retryable => d.retryable,
    }
}

async fn render(
    app: &AppState,
    admin: &Admin,
    q: &ListQuery,
    said: Said,
) -> Result<Response, AppError> {
    let db = &app.domain.db;
    let status = check_status(q.status.as_deref())?;
    let page = query::number(q.page.as_deref(), "page", 0, query::MAX_PAGE, 0)?;
    let (rows, total) = views::page(db, status, page, PER_PAGE).await?;
    let counts = status_counts(db).await?;
    let filters: Vec<minijinja::Value> = [
        None,
        Some(Status::Sent),
        Some(Status::Failed),
        Some(Status::Unknown),
        Some(Status::Pending),
    ]
    .into_iter()
    .filter(|s| {
        *s != Some(Status::Unknown) || counts.unknown > 0 || status == Some(Status::Unknown)
    })
    .map(|s| {
        context! {
            value => s.map(|s| s.as_str()).unwrap_or(""),
            label => s.map(|s| s.zh()).unwrap_or("全部"),
            current => s == status,
        }
    })
    .collect();
    let status_param = status.map(|s| s.as_str());
    console::page(
        app,
        admin,
        Section::Deliveries,
        "admin_deliveries.html",
        context! {
            rows => rows.into_iter().map(row).collect::<Vec<_>>(),
            filters, status => status_param, status_zh => status.map(|s| s.zh()),
            page, total, has_next => (page + 1) * PER_PAGE < total,
        },
        said,
    )
    .await
}

async fn show(
    admin: Admin,
    State(app): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let said = Said {
        notice: notice(q.done.as_deref()).map(str::to_owned),
        error: None,
    };
    render(&app, &admin, &q, said).await
}

async fn retry_delivery(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Result<Response, AppError> {
    match views::retry(&app.domain, id).await {
        Ok(_) => Ok(console::done(Section::Deliveries, "retried")),
        Err(e) => render(&app, &admin, &ListQuery::default(), refusal(e)?).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_openids_are_shortened_and_short_ones_kept() {
        assert_eq!(short_openid("oSandbox00000000000000000003"), "oSandb…0003");
        assert_eq!(short_openid("oShort"), "oShort");
    }
}
