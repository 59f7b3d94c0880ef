//! What every console page shares: its sections and navigation, the shop's name in the
//! header, and what a form says back, a notice ("已保存") or the refusal, at the top of
//! the page the form led to, where the eye is.
//!
//! A form that worked redirects to its page with `?done=<what>`; the words for each
//! `what` are written here ([`notice`]), so a link cannot put words of its own on the
//! page. A refused form renders its page directly, 400, with the refusal and the input
//! kept for fixing.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;

use crate::http::admin::auth::Admin;
use crate::{AppError, AppState};

/// The console's sections, in the order the navigation lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Template,
    Deliveries,
    Codes,
    Shop,
    Site,
    Settings,
}

impl Section {
    const ALL: [Section; 7] = [
        Section::Overview,
        Section::Template,
        Section::Deliveries,
        Section::Codes,
        Section::Shop,
        Section::Site,
        Section::Settings,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Section::Overview => "/admin",
            Section::Template => "/admin/template",
            Section::Deliveries => "/admin/deliveries",
            Section::Codes => "/admin/channel-codes",
            Section::Shop => "/admin/shop",
            Section::Site => "/admin/site",
            Section::Settings => "/admin/settings",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Section::Overview => "概况",
            Section::Template => "消息模板",
            Section::Deliveries => "消息记录",
            Section::Codes => "渠道码",
            Section::Shop => "店铺信息",
            Section::Site => "接入网站",
            Section::Settings => "发送方式",
        }
    }
}

/// The notice a redirect's `?done=` stands for.
pub fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "saved" => "已保存",
        "unchanged" => "内容没有变化，没有新增版本",
        "restored" => "已恢复，这一版现在开始使用",
        "retried" => "已重新发送",
        "created" => "已创建",
        "revoked" => "已撤销",
        "deleted" => "已删除",
        "off" => "已关闭",
        "enabled" => "已启用：扫码会照常回复和打标签",
        "disabled" => "已停用：扫码仍会记录，但不再回复或打标签",
        "resent" => "已重发",
        _ => return None,
    })
}

/// Back to `section` after a form that worked, saying `done`.
pub fn done(section: Section, done: &str) -> Response {
    Redirect::to(&format!("{}?done={done}", section.path())).into_response()
}

/// The `?done=` a page is redirected to after a form.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    pub done: Option<String>,
}

/// What a page says back: a notice, or a refusal (the page is then a 400).
#[derive(Debug, Default)]
pub struct Said {
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Said {
    pub fn done(done: Option<&str>) -> Said {
        Said {
            notice: notice(done).map(str::to_owned),
            error: None,
        }
    }

    pub fn refused(reason: impl Into<String>) -> Said {
        Said {
            notice: None,
            error: Some(reason.into()),
        }
    }
}

/// The words of a refusal a form's page shows; any other error is the server's.
pub fn refusal(e: AppError) -> Result<Said, AppError> {
    match e {
        AppError::BadRequest { reason, .. } | AppError::Conflict(reason) => {
            Ok(Said::refused(reason))
        }
        AppError::Upstream(e) => {
            tracing::warn!(error = %e, "wechat call failed");
            let words = e.errcode().and_then(crate::wechat::api::errcode_zh);
            Ok(Said::refused(match words {
                Some(words) => format!("微信没有接受：{words}"),
                None => "微信接口暂时不可用，请稍后再试".to_owned(),
            }))
        }
        other => Err(other),
    }
}

/// Renders `template` for `section` with `ctx` and what the console shares: the CSRF
/// token, the navigation, the shop's name, and what was said.
pub async fn page(
    app: &AppState,
    admin: &Admin,
    section: Section,
    template: &str,
    ctx: minijinja::Value,
    said: Said,
) -> Result<Response, AppError> {
    let shop = app.domain.shop.current().await?;
    let nav: Vec<minijinja::Value> = Section::ALL
        .iter()
        .map(|s| context! { path => s.path(), label => s.label(), current => *s == section })
        .collect();
    let status = match said.error {
        Some(_) => StatusCode::BAD_REQUEST,
        None => StatusCode::OK,
    };
    let html = app.web.pages.render(
        template,
        context! {
            csrf => admin.csrf(),
            nav,
            section_label => section.label(),
            shop_name => shop.as_ref().as_ref().map(|s| s.name.clone()),
            notice => said.notice,
            error => said.error,
            ..ctx
        },
    )?;
    Ok((status, [("cache-control", "no-store")], html).into_response())
}
