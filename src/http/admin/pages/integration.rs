//! The console's "接入网站" page: site keys (a new key shown once), the order's fields,
//! the webhook (a new secret shown once) with its recent events, and the scans of
//! codes this service did not make.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::console::{self, Done, Said, Section};
use super::{AdminForm, NoFields};
use crate::http::admin::auth::Admin;
use crate::http::extract::{Path, Query};
use crate::http::time::beijing;
use crate::quote::orders::schema::{FieldDef, FieldType};
use crate::quote::outbox::Status;
use crate::quote::outbox::views;
use crate::quote::scans::foreign_scans;
use crate::quote::site_keys::NewSiteKey;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/site", get(show))
        .route("/admin/site-keys", post(create_key))
        .route("/admin/site-keys/{id}/revoke", post(revoke_key))
        .route("/admin/order-fields", post(save_fields))
        .route("/admin/webhook", post(set_webhook))
        .route("/admin/webhook/delete", post(delete_webhook))
        .route("/admin/webhook/events/{id}/resend", post(resend_event))
}

/// Empty rows the fields form offers for new fields.
const SPARE_ROWS: usize = 3;

/// What a form hands back to the page.
#[derive(Default)]
struct Shown {
    error: Option<String>,
    notice: Option<String>,
    new_key: Option<NewSiteKey>,
    new_secret: Option<String>,
}

fn event_label(kind: &str) -> &'static str {
    match kind {
        "scan" => "访客扫码",
        "message.sent" => "消息已发送",
        "message.failed" => "消息发送失败",
        "message.unknown" => "消息状态不明",
        _ => "其他",
    }
}

fn status_label(status: Status) -> &'static str {
    match status {
        Status::Pending => "等待重试",
        Status::Sending => "发送中",
        Status::Sent => "网站已收到",
        Status::Failed => "放弃",
        // Webhook events are always at least once; no event is left unknown.
        Status::Unknown => "状态不明",
    }
}

async fn render(app: &AppState, admin: &Admin, shown: Shown) -> Result<Response, AppError> {
    let domain = &app.domain;
    let keys: Vec<minijinja::Value> = domain
        .site_keys
        .list()
        .await?
        .into_iter()
        .map(|k| {
            context! {
                id => k.id, name => k.name, created => beijing(k.created_at_ms),
                last_used => k.last_used_at_ms.map(beijing),
            }
        })
        .collect();
    let schema = domain.schemas.current().await?;
    let mut field_rows: Vec<minijinja::Value> = schema
        .iter()
        .map(|f| context! { name => f.name, label => f.label, type => f.kind, required => f.required })
        .collect();
    for _ in 0..SPARE_ROWS {
        field_rows.push(context! { name => "", label => "", type => "text", required => false });
    }
    let field_types: Vec<minijinja::Value> = [
        FieldType::Text,
        FieldType::Money,
        FieldType::Decimal,
        FieldType::Integer,
        FieldType::Date,
    ]
    .into_iter()
    .map(|t| context! { value => t, label => t.zh() })
    .collect();
    let events: Vec<minijinja::Value> = views::events(&domain.db, 20)
        .await?
        .into_iter()
        .map(|e| {
            context! {
                id => e.id, type_label => event_label(&e.event_type), created => beijing(e.created_at_ms),
                status_label => status_label(e.status), attempts => e.attempts, errmsg => e.errmsg,
                resendable => matches!(e.status, Status::Sent | Status::Failed),
            }
        })
        .collect();
    let foreign: Vec<minijinja::Value> = foreign_scans(&domain.db, 20)
        .await?
        .into_iter()
        .map(|f| context! { at => beijing(f.received_at_ms), openid => f.openid, event => f.event, scene => f.scene })
        .collect();
    let ctx = context! {
        keys, field_rows, field_types, events, foreign,
        webhook => domain.webhooks.current().await?.map(|w| context! { url => w.url.clone() }),
        new_key => shown.new_key, new_secret => shown.new_secret,
    };
    let said = Said {
        notice: shown.notice,
        error: shown.error,
    };
    console::page(app, admin, Section::Site, "admin_site.html", ctx, said).await
}

/// A refusal of the form's input shown on the page; anything else is an error.
async fn refused(app: &AppState, admin: &Admin, e: AppError) -> Result<Response, AppError> {
    match e {
        AppError::BadRequest { reason, .. } | AppError::Conflict(reason) => {
            render(
                app,
                admin,
                Shown {
                    error: Some(reason),
                    ..Default::default()
                },
            )
            .await
        }
        other => Err(other),
    }
}

async fn show(
    admin: Admin,
    State(app): State<AppState>,
    Query(q): Query<Done>,
) -> Result<Response, AppError> {
    let shown = Shown {
        notice: console::notice(q.done.as_deref()).map(str::to_owned),
        ..Default::default()
    };
    render(&app, &admin, shown).await
}

#[derive(Deserialize)]
struct KeyForm {
    name: Option<String>,
}

async fn create_key(
    State(app): State<AppState>,
    AdminForm { admin, form }: AdminForm<KeyForm>,
) -> Result<Response, AppError> {
    match app
        .domain
        .site_keys
        .create(form.name.as_deref().unwrap_or_default())
        .await
    {
        Ok(key) => {
            let notice = Some(format!("已生成网站密钥「{}」", key.name));
            render(
                &app,
                &admin,
                Shown {
                    notice,
                    new_key: Some(key),
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => refused(&app, &admin, e).await,
    }
}

async fn revoke_key(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    _: AdminForm<NoFields>,
) -> Result<Response, AppError> {
    app.domain.site_keys.revoke(id).await?;
    Ok(console::done(Section::Site, "revoked"))
}

/// The rows of the fields form (`name_0`, `label_0`, `type_0`, `required_0`, …), the
/// empty ones left out.
fn field_rows(form: &BTreeMap<String, String>) -> Result<Vec<FieldDef>, AppError> {
    let mut fields = Vec::new();
    for i in 0.. {
        let Some(name) = form.get(&format!("name_{i}")) else {
            break;
        };
        let label = form.get(&format!("label_{i}")).cloned().unwrap_or_default();
        if name.trim().is_empty() && label.trim().is_empty() {
            continue;
        }
        let kind = match form.get(&format!("type_{i}")).map(String::as_str) {
            Some("money") => FieldType::Money,
            Some("decimal") => FieldType::Decimal,
            Some("integer") => FieldType::Integer,
            Some("date") => FieldType::Date,
            Some("text") | None => FieldType::Text,
            Some(_) => {
                return Err(AppError::bad_field(
                    "type",
                    format!("第 {} 行的类型不对", i + 1),
                ));
            }
        };
        fields.push(FieldDef {
            name: name.clone(),
            label,
            kind,
            required: form.contains_key(&format!("required_{i}")),
        });
    }
    Ok(fields)
}

async fn save_fields(
    State(app): State<AppState>,
    AdminForm { admin, form }: AdminForm<BTreeMap<String, String>>,
) -> Result<Response, AppError> {
    let saved = match field_rows(&form) {
        Ok(fields) => app.domain.schemas.set(fields).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => {
            let notice = Some("已保存订单字段".to_owned());
            render(
                &app,
                &admin,
                Shown {
                    notice,
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => refused(&app, &admin, e).await,
    }
}

#[derive(Deserialize)]
struct WebhookForm {
    url: Option<String>,
}

async fn set_webhook(
    State(app): State<AppState>,
    AdminForm { admin, form }: AdminForm<WebhookForm>,
) -> Result<Response, AppError> {
    match app
        .domain
        .webhooks
        .set(form.url.as_deref().unwrap_or_default())
        .await
    {
        Ok(hook) => {
            let notice = Some(format!("已开启网站通知：{}", hook.url));
            render(
                &app,
                &admin,
                Shown {
                    notice,
                    new_secret: Some(hook.secret),
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => refused(&app, &admin, e).await,
    }
}

async fn delete_webhook(
    State(app): State<AppState>,
    _: AdminForm<NoFields>,
) -> Result<Response, AppError> {
    app.domain.webhooks.delete().await?;
    Ok(console::done(Section::Site, "off"))
}

async fn resend_event(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    _: AdminForm<NoFields>,
) -> Result<Response, AppError> {
    views::resend_event(&app.domain, id).await?;
    Ok(console::done(Section::Site, "resent"))
}
