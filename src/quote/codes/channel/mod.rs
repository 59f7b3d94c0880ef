//! Channel codes (渠道码): a named QR code, permanent or valid for a while, that credits
//! each scan and new follower to its channel, tags the scanner and answers them
//! ([`action`]: a welcome for new followers, a reply for the rest). Its numbers come
//! from the scans of its QR code ([`stats`]); tags go through the outbox ([`tags`]).
//!
//! A code's name is unique among codes not deleted. A deleted code keeps its numbers
//! (they stay in the totals, marked deleted) and its QR code keeps resolving to it, so
//! its scans are still recorded, and nothing is sent, as for a disabled one.

pub mod action;
pub mod batch;
pub mod list;
pub mod stats;
pub mod tags;

use entity::{channel_code, qr_code};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Set};
use serde::Serialize;

use self::action::Action;
use super::registry::NewCode;
use super::{CodeKind, permanent};
use crate::db::errors::is_duplicate;
use crate::quote::Domain;
use crate::wechat::scene::MAX_EXPIRE_SECONDS;
use crate::wechat::tags::MAX_TAG_CHARS;
use crate::wechat::{Lifetime, Scene};
use crate::{AppError, now_ms};

/// The longest name, group and note, in characters.
pub const MAX_NAME_CHARS: usize = 64;
pub const MAX_GROUP_CHARS: usize = 32;
pub const MAX_NOTE_CHARS: usize = 200;
/// The shortest validity of a temporary code, in seconds.
pub const MIN_VALIDITY_SECS: u32 = 60;

/// How long a code works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// One of the account's 100,000 permanent codes.
    Permanent,
    /// A temporary code, for this many seconds (60 to 30 days).
    Seconds(u32),
}

impl Validity {
    /// `"permanent"` or a number of seconds, as the API takes it.
    pub fn parse(value: &serde_json::Value) -> Result<Validity, AppError> {
        let refuse = || {
            AppError::bad_field(
                "validity",
                "有效期须为 \"permanent\"（永久）或 60 到 2592000 之间的秒数（最长 30 天）",
            )
        };
        match value {
            serde_json::Value::String(s) if s == "permanent" => Ok(Validity::Permanent),
            serde_json::Value::String(s) => s
                .parse::<u32>()
                .map_err(|_| refuse())
                .and_then(Self::secs(refuse)),
            serde_json::Value::Number(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(refuse)
                .and_then(Self::secs(refuse)),
            _ => Err(refuse()),
        }
    }

    fn secs(refuse: impl Fn() -> AppError) -> impl Fn(u32) -> Result<Validity, AppError> {
        move |secs| match secs {
            MIN_VALIDITY_SECS..=MAX_EXPIRE_SECONDS => Ok(Validity::Seconds(secs)),
            _ => Err(refuse()),
        }
    }
}

/// What a code does and how it is filed: everything but its name and validity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub group: Option<String>,
    pub note: Option<String>,
    pub reply: Option<Action>,
    pub welcome: Option<Action>,
    pub tag: Option<String>,
}

/// A change to a code: `None` leaves a setting as it is; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub name: Option<String>,
    pub group: Option<Option<String>>,
    pub note: Option<Option<String>>,
    pub reply: Option<Option<Action>>,
    pub welcome: Option<Option<Action>>,
    pub tag: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// Trims `text`; empty is `None`; longer than `max` characters or holding a control
/// character is refused, naming `field`.
fn optional_text(
    field: &str,
    what: &str,
    text: Option<&str>,
    max: usize,
) -> Result<Option<String>, AppError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > max {
        return Err(AppError::bad_field(field, format!("{what}最多 {max} 个字")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::bad_field(
            field,
            format!("{what}里有不可见的控制字符"),
        ));
    }
    Ok(Some(text.to_owned()))
}

/// A code's name: any Unicode, 1–64 characters, trimmed, on one line.
pub fn check_name(field: &str, name: &str) -> Result<String, AppError> {
    match optional_text(field, "名称", Some(name), MAX_NAME_CHARS)? {
        Some(name) if !name.contains('\n') => Ok(name),
        Some(_) => Err(AppError::bad_field(field, "名称只能写一行")),
        None => Err(AppError::bad_field(field, "请填写渠道码的名称")),
    }
}

impl Settings {
    /// Checks and tidies every setting (trimmed; empty is none).
    pub fn checked(self) -> Result<Settings, AppError> {
        let group = optional_text("group", "分组", self.group.as_deref(), MAX_GROUP_CHARS)?;
        let note = optional_text("note", "备注", self.note.as_deref(), MAX_NOTE_CHARS)?;
        let tag = optional_text("tag", "标签", self.tag.as_deref(), MAX_TAG_CHARS)?;
        if tag.as_deref().is_some_and(|t| t.contains('\n')) {
            return Err(AppError::bad_field("tag", "标签只能写一行"));
        }
        if let Some(reply) = &self.reply {
            reply.check("reply")?;
        }
        if let Some(welcome) = &self.welcome {
            welcome.check("welcome")?;
        }
        Ok(Settings {
            group,
            note,
            tag,
            ..self
        })
    }
}

/// Where a code stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Active,
    Expired,
    Disabled,
    Deleted,
}

impl State {
    pub fn of(code: &channel_code::Model, now: i64) -> State {
        if code.deleted_at_ms.is_some() {
            State::Deleted
        } else if !code.enabled {
            State::Disabled
        } else if code.expires_at_ms.is_some_and(|at| at <= now) {
            State::Expired
        } else {
            State::Active
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        match text {
            "active" => Some(State::Active),
            "expired" => Some(State::Expired),
            "disabled" => Some(State::Disabled),
            "deleted" => Some(State::Deleted),
            _ => None,
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            State::Active => "使用中",
            State::Expired => "已过期",
            State::Disabled => "已停用",
            State::Deleted => "已删除",
        }
    }
}

/// A random scene no one else's code has: `cc-` and 16 letters and digits.
fn new_scene() -> String {
    use rand::Rng;
    use rand::distributions::Alphanumeric;
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    format!("cc-{tail}")
}

pub(super) fn name_taken(name: &str) -> AppError {
    AppError::Conflict(format!("已有名为“{name}”的渠道码，请换一个名称"))
}

/// Makes a code: its row first (so a taken name is refused before WeChat is asked,
/// and the permanent quota before a permanent one), then its QR code, registered as
/// pointing at the row. Should WeChat refuse, the row goes again.
pub async fn create(
    domain: &Domain,
    name: &str,
    validity: Validity,
    settings: Settings,
) -> Result<channel_code::Model, AppError> {
    let name = check_name("name", name)?;
    let settings = settings.checked()?;
    if validity == Validity::Permanent && permanent::remaining(&domain.db).await? == 0 {
        return Err(AppError::Conflict(
            "本公众号的 100,000 个永久二维码已全部用完，请改用临时码".into(),
        ));
    }
    let now = now_ms();
    let scene = new_scene();
    let row = channel_code::ActiveModel {
        name: Set(name.clone()),
        live_name: Set(Some(name.clone())),
        group_name: Set(settings.group),
        note: Set(settings.note),
        permanent: Set(validity == Validity::Permanent),
        expires_at_ms: Set(match validity {
            Validity::Permanent => None,
            Validity::Seconds(s) => Some(now + i64::from(s) * 1000),
        }),
        enabled: Set(true),
        deleted_at_ms: Set(None),
        reply: Set(settings.reply.as_ref().map(Action::to_json)),
        welcome: Set(settings.welcome.as_ref().map(Action::to_json)),
        tag: Set(settings.tag),
        qr_code_id: Set(0),
        scene: Set(scene.clone()),
        created_at_ms: Set(now),
        updated_at_ms: Set(now),
        ..Default::default()
    }
    .insert(&domain.db)
    .await
    .map_err(|e| {
        if is_duplicate(&e) {
            name_taken(&name)
        } else {
            e.into()
        }
    })?;
    match make_code(domain, &row, validity, &scene).await {
        Ok(code) => {
            let mut done = row.into_active_model();
            done.qr_code_id = Set(code.id);
            Ok(done.update(&domain.db).await?)
        }
        Err(e) => {
            channel_code::Entity::delete_by_id(row.id)
                .exec(&domain.db)
                .await?;
            Err(e)
        }
    }
}

async fn make_code(
    domain: &Domain,
    row: &channel_code::Model,
    validity: Validity,
    scene: &str,
) -> Result<qr_code::Model, AppError> {
    let scene = Scene::Str(scene.to_owned());
    let target = row.id.to_string();
    let Validity::Seconds(expire_seconds) = validity else {
        return permanent::create(domain, CodeKind::Channel, &scene, &target).await;
    };
    let created = domain
        .wechat
        .create_qrcode(&scene, Lifetime::Temporary { expire_seconds })
        .await?;
    domain
        .registry
        .register(NewCode {
            created: &created,
            kind: CodeKind::Channel,
            scene: scene.to_string(),
            target,
            expires_at_ms: row.expires_at_ms,
        })
        .await
}

/// A code by id, deleted or not.
pub async fn get(db: &DatabaseConnection, id: i64) -> Result<channel_code::Model, AppError> {
    channel_code::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// Changes what `change` names; a deleted code is not changed.
pub async fn update(
    domain: &Domain,
    id: i64,
    change: Change,
) -> Result<channel_code::Model, AppError> {
    let code = get(&domain.db, id).await?;
    if code.deleted_at_ms.is_some() {
        return Err(AppError::Conflict("这个渠道码已删除，不能再修改".into()));
    }
    let checked = Settings {
        group: change.group.clone().flatten(),
        note: change.note.clone().flatten(),
        reply: change.reply.clone().flatten(),
        welcome: change.welcome.clone().flatten(),
        tag: change.tag.clone().flatten(),
    }
    .checked()?;
    let mut row = code.into_active_model();
    if let Some(name) = &change.name {
        let name = check_name("name", name)?;
        row.name = Set(name.clone());
        row.live_name = Set(Some(name));
    }
    if change.group.is_some() {
        row.group_name = Set(checked.group);
    }
    if change.note.is_some() {
        row.note = Set(checked.note);
    }
    if change.reply.is_some() {
        row.reply = Set(checked.reply.as_ref().map(Action::to_json));
    }
    if change.welcome.is_some() {
        row.welcome = Set(checked.welcome.as_ref().map(Action::to_json));
    }
    if change.tag.is_some() {
        row.tag = Set(checked.tag);
    }
    if let Some(enabled) = change.enabled {
        row.enabled = Set(enabled);
    }
    row.updated_at_ms = Set(now_ms());
    let name = change.name.clone().unwrap_or_default();
    row.update(&domain.db).await.map_err(|e| {
        if is_duplicate(&e) {
            name_taken(name.trim())
        } else {
            e.into()
        }
    })
}

/// Deletes a code: its name is free again, its numbers stay, its scans send nothing.
pub async fn delete(domain: &Domain, id: i64) -> Result<(), AppError> {
    let code = get(&domain.db, id).await?;
    if code.deleted_at_ms.is_some() {
        return Err(AppError::NotFound);
    }
    let mut row = code.into_active_model();
    let now = now_ms();
    row.deleted_at_ms = Set(Some(now));
    row.live_name = Set(None);
    row.updated_at_ms = Set(now);
    row.update(&domain.db).await?;
    Ok(())
}
