//! The channel codes' pages (渠道码): the list with today's board, filters by group,
//! state and name, the forms to create one or a team's batch, the zip of them all, and
//! up to 5 codes compared day by day (and merged). One code's own page, with its
//! numbers, pictures and changes, is [`super::channel_code`].

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::AdminForm;
use super::console::{self, Said, Section, refusal};
use crate::http::admin::api::channel_codes::filter;
use crate::http::admin::auth::Admin;
use crate::http::extract::Query;
use crate::quote::codes::channel::action::{Action, News};
use crate::quote::codes::channel::list::{self, ChannelCodeView};
use crate::quote::codes::channel::stats::{self, chart_svg};
use crate::quote::codes::channel::{self, Settings, Validity};
use crate::quote::codes::permanent::{self, PERMANENT_CODE_LIMIT};
use crate::{AppError, AppState};

/// The most codes compared at once.
pub const MAX_COMPARED: usize = 5;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/channel-codes", get(show).post(create))
        .route("/admin/channel-codes/batch", post(create_batch))
        .route("/admin/channel-codes/compare", get(compare))
        // Where the codes were before they were channel codes.
        .route(
            "/admin/codes",
            get(|| async { Redirect::permanent("/admin/channel-codes") }),
        )
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    group: Option<String>,
    state: Option<String>,
    q: Option<String>,
    done: Option<String>,
}

/// The validities the console offers, in seconds (`permanent` last).
const VALIDITIES: [(&str, &str); 5] = [
    ("86400", "1 天"),
    ("259200", "3 天"),
    ("604800", "7 天"),
    ("2592000", "30 天"),
    ("permanent", "永久"),
];

/// A code as a row of the list.
pub fn row(c: &ChannelCodeView) -> minijinja::Value {
    context! {
        id => c.id, name => c.name.clone(), group => c.group.clone(), note => c.note.clone(),
        state => c.state, state_zh => c.state_zh,
        validity => if c.permanent { "永久".to_owned() } else {
            c.expires_at_ms.map(|ms| format!("至 {}", crate::http::time::beijing(ms))).unwrap_or_default()
        },
        scans => c.scans, new_followers => c.new_followers, tag => c.tag.clone(),
    }
}

async fn render(
    app: &AppState,
    admin: &Admin,
    q: &ListQuery,
    said: Said,
) -> Result<Response, AppError> {
    let db = &app.domain.db;
    let filter = filter(q.group.clone(), q.state.clone(), q.q.clone()).unwrap_or_default();
    let codes = list::list(db, &app.domain.base_url, &filter).await?;
    // Today's board: every code's numbers today, deleted ones included.
    let all = list::qr_code_ids(db).await?;
    let today = stats::stats(db, &all, 1).await?.totals;
    let export = {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("group", &filter.group), ("q", &filter.q)] {
            if let Some(v) = v {
                query.append_pair(k, v);
            }
        }
        if let Some(state) = q.state.as_deref().filter(|s| !s.is_empty()) {
            query.append_pair("state", state);
        }
        format!("/api/admin/channel-codes/export.zip?{}", query.finish())
    };
    let ctx = context! {
        codes => codes.iter().map(row).collect::<Vec<_>>(),
        total => all.len(), today,
        groups => list::groups(db).await?,
        group => filter.group, state => q.state.clone().unwrap_or_default(), q => filter.q,
        export,
        validities => VALIDITIES.iter().map(|(v, l)| context! { value => v, label => l }).collect::<Vec<_>>(),
        permanent_used => permanent::used(db).await?, permanent_limit => PERMANENT_CODE_LIMIT,
        max_compared => MAX_COMPARED,
    };
    console::page(
        app,
        admin,
        Section::Codes,
        "admin_channel_codes.html",
        ctx,
        said,
    )
    .await
}

async fn show(
    admin: Admin,
    State(app): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let said = match filter(q.group.clone(), q.state.clone(), q.q.clone()) {
        Ok(_) => Said::done(q.done.as_deref()),
        Err(e) => refusal(e)?,
    };
    render(&app, &admin, &q, said).await
}

/// A reply or welcome as the form sends it: `{prefix}_kind` (`none`, `text`, `news`)
/// and its fields.
#[derive(Debug, Default, Deserialize)]
pub struct SettingsForm {
    pub group: Option<String>,
    pub note: Option<String>,
    pub tag: Option<String>,
    pub reply_kind: Option<String>,
    pub reply_text: Option<String>,
    pub reply_title: Option<String>,
    pub reply_description: Option<String>,
    pub reply_url: Option<String>,
    pub reply_pic_url: Option<String>,
    pub welcome_kind: Option<String>,
    pub welcome_text: Option<String>,
    pub welcome_title: Option<String>,
    pub welcome_description: Option<String>,
    pub welcome_url: Option<String>,
    pub welcome_pic_url: Option<String>,
}

fn action(
    field: &str,
    kind: Option<&str>,
    text: Option<String>,
    news: [Option<String>; 4],
) -> Result<Option<Action>, AppError> {
    let [title, description, url, pic_url] = news.map(Option::unwrap_or_default);
    match kind.unwrap_or("none") {
        "none" | "" => Ok(None),
        "text" => Ok(Some(Action::Text(text.unwrap_or_default()))),
        "news" => Ok(Some(Action::News(News {
            title,
            description,
            url: url.trim().to_owned(),
            pic_url: pic_url.trim().to_owned(),
        }))),
        _ => Err(AppError::bad_field(field, "消息类型须为不回复、文字或图文")),
    }
}

impl SettingsForm {
    pub fn reply(&mut self) -> Result<Option<Action>, AppError> {
        action(
            "reply",
            self.reply_kind.as_deref(),
            self.reply_text.take(),
            [
                self.reply_title.take(),
                self.reply_description.take(),
                self.reply_url.take(),
                self.reply_pic_url.take(),
            ],
        )
    }

    pub fn welcome(&mut self) -> Result<Option<Action>, AppError> {
        action(
            "welcome",
            self.welcome_kind.as_deref(),
            self.welcome_text.take(),
            [
                self.welcome_title.take(),
                self.welcome_description.take(),
                self.welcome_url.take(),
                self.welcome_pic_url.take(),
            ],
        )
    }

    pub fn settings(mut self) -> Result<Settings, AppError> {
        Ok(Settings {
            reply: self.reply()?,
            welcome: self.welcome()?,
            group: self.group,
            note: self.note,
            tag: self.tag,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
struct CreateForm {
    name: Option<String>,
    prefix: Option<String>,
    count: Option<String>,
    validity: Option<String>,
    #[serde(flatten)]
    settings: SettingsForm,
}

fn validity(form: &CreateForm) -> Result<Validity, AppError> {
    let v = form.validity.clone().unwrap_or_default();
    Validity::parse(&serde_json::Value::String(v))
}

async fn create(
    State(app): State<AppState>,
    AdminForm { admin, form }: AdminForm<CreateForm>,
) -> Result<Response, AppError> {
    let made = async {
        let validity = validity(&form)?;
        let name = form.name.clone().unwrap_or_default();
        channel::create(&app.domain, &name, validity, form.settings.settings()?).await
    }
    .await;
    match made {
        Ok(code) => Ok(
            Redirect::to(&format!("/admin/channel-codes/{}?done=created", code.id)).into_response(),
        ),
        Err(e) => render(&app, &admin, &ListQuery::default(), refusal(e)?).await,
    }
}

async fn create_batch(
    State(app): State<AppState>,
    AdminForm { admin, form }: AdminForm<CreateForm>,
) -> Result<Response, AppError> {
    let prefix = form.prefix.clone().unwrap_or_default();
    let made = async {
        let validity = validity(&form)?;
        let count = form
            .count
            .as_deref()
            .unwrap_or_default()
            .trim()
            .parse::<u32>()
            .map_err(|_| AppError::bad_field("count", "请填写要生成的数量（1 到 100）"))?;
        channel::batch::make(
            &app.domain,
            &prefix,
            count,
            validity,
            form.settings.settings()?,
        )
        .await
    }
    .await;
    match made {
        Ok(_) => {
            let q = urlencoding::encode(prefix.trim());
            Ok(Redirect::to(&format!("/admin/channel-codes?q={q}&done=created")).into_response())
        }
        Err(e) => render(&app, &admin, &ListQuery::default(), refusal(e)?).await,
    }
}

/// Up to [`MAX_COMPARED`] codes (`?id=1&id=2…`) side by side, day by day, and merged.
async fn compare(
    admin: Admin,
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let db = &app.domain.db;
    let mut days = 30u32;
    let mut ids = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match (&*k, v.parse::<i64>()) {
            ("id", Ok(id)) if !ids.contains(&id) => ids.push(id),
            ("days", Ok(d)) if (1..=i64::from(stats::MAX_DAYS)).contains(&d) => days = d as u32,
            _ => {}
        }
    }
    if ids.is_empty() || ids.len() > MAX_COMPARED {
        let said = Said::refused(format!("请勾选 1 到 {MAX_COMPARED} 个渠道码来对比"));
        return render(&app, &admin, &ListQuery::default(), said).await;
    }
    let mut codes = Vec::new();
    for id in &ids {
        let code = channel::get(db, *id).await?;
        let s = stats::stats(db, &[code.qr_code_id], days).await?;
        codes.push((code, s));
    }
    let qr_ids: Vec<i64> = codes.iter().map(|(c, _)| c.qr_code_id).collect();
    let merged = stats::stats(db, &qr_ids, days).await?;
    let rows: Vec<minijinja::Value> = merged
        .days
        .iter()
        .enumerate()
        .rev()
        .map(|(i, d)| {
            let each: Vec<u64> = codes.iter().map(|(_, s)| s.days[i].numbers.scans).collect();
            let new: Vec<u64> = codes
                .iter()
                .map(|(_, s)| s.days[i].numbers.new_followers)
                .collect();
            context! { date => d.date.clone(), each, new, merged => d.numbers }
        })
        .collect();
    let ctx = context! {
        codes => codes.iter().map(|(c, s)| context! {
            id => c.id, name => c.name.clone(), totals => s.totals,
            chart => minijinja::Value::from_safe_string(chart_svg(&s.days)),
        }).collect::<Vec<_>>(),
        merged => merged.totals,
        merged_chart => minijinja::Value::from_safe_string(chart_svg(&merged.days)),
        rows, days, ids,
    };
    console::page(
        &app,
        &admin,
        Section::Codes,
        "admin_channel_compare.html",
        ctx,
        Said::default(),
    )
    .await
}
