//! Channel codes as the console and the API list them: each with its QR code, its
//! state and its running totals, filtered by group, state or a word of the name.

use std::collections::HashMap;

use entity::{channel_code, qr_code, scan};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use url::Url;

use super::State;
use super::action::Action;
use crate::quote::beijing;
use crate::{db, now_ms};

/// A code as listed: what it is, where it stands, its QR code and its totals.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelCodeView {
    pub id: i64,
    pub name: String,
    pub group: Option<String>,
    pub note: Option<String>,
    pub state: State,
    /// The state as the owner reads it: 使用中, 已过期, 已停用, 已删除.
    pub state_zh: &'static str,
    pub enabled: bool,
    pub permanent: bool,
    /// When a temporary code stops working (RFC 3339, Beijing time); `None` if permanent.
    pub expires_at: Option<String>,
    pub expires_at_ms: Option<i64>,
    pub reply: Option<Action>,
    pub welcome: Option<Action>,
    pub tag: Option<String>,
    /// The scene the QR code carries.
    pub scene: String,
    pub ticket: String,
    /// What the QR code encodes.
    pub url: String,
    pub png_url: String,
    pub svg_url: String,
    /// Every scan so far.
    pub scans: u64,
    /// Scans that made the scanner follow.
    pub new_followers: u64,
    pub created_at_ms: i64,
    pub deleted_at_ms: Option<i64>,
}

fn rfc3339_beijing(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&beijing()).to_rfc3339())
}

/// What [`list`] keeps.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub group: Option<String>,
    pub state: Option<State>,
    /// A word of the name (or the note).
    pub q: Option<String>,
}

/// Scans and subscribes per QR code, for the codes listed.
async fn totals(
    db: &DatabaseConnection,
    qr_ids: &[i64],
) -> Result<HashMap<i64, (u64, u64)>, DbErr> {
    let mut out: HashMap<i64, (u64, u64)> = HashMap::new();
    for some in db::chunks(qr_ids) {
        let rows: Vec<(Option<i64>, String, i64)> = scan::Entity::find()
            .select_only()
            .column(scan::Column::QrCodeId)
            .column(scan::Column::Event)
            .column_as(Expr::col(scan::Column::Id).count(), "n")
            .filter(super::stats::of_codes(some))
            .group_by(scan::Column::QrCodeId)
            .group_by(scan::Column::Event)
            .into_tuple()
            .all(db)
            .await?;
        for (qr, event, n) in rows {
            let entry = out.entry(qr.unwrap_or_default()).or_default();
            entry.0 += n as u64;
            if event == "subscribe" {
                entry.1 += n as u64;
            }
        }
    }
    Ok(out)
}

/// The codes `filter` keeps, newest first, with their totals.
pub async fn list(
    db: &DatabaseConnection,
    base_url: &Url,
    filter: &Filter,
) -> Result<Vec<ChannelCodeView>, DbErr> {
    let mut select = channel_code::Entity::find().order_by_desc(channel_code::Column::Id);
    if let Some(group) = &filter.group {
        select = select.filter(channel_code::Column::GroupName.eq(group.as_str()));
    }
    let now = now_ms();
    let codes: Vec<channel_code::Model> = select
        .all(db)
        .await?
        .into_iter()
        .filter(|c| filter.state.is_none_or(|s| State::of(c, now) == s))
        .filter(|c| {
            filter.q.as_deref().is_none_or(|q| {
                c.name.contains(q) || c.note.as_deref().is_some_and(|n| n.contains(q))
            })
        })
        .collect();
    views(db, base_url, codes).await
}

/// Each of `codes` as listed.
pub async fn views(
    db: &DatabaseConnection,
    base_url: &Url,
    codes: Vec<channel_code::Model>,
) -> Result<Vec<ChannelCodeView>, DbErr> {
    let qr_ids: Vec<i64> = codes.iter().map(|c| c.qr_code_id).collect();
    let mut qr: HashMap<i64, qr_code::Model> = HashMap::new();
    for some in db::chunks(&qr_ids) {
        for code in qr_code::Entity::find()
            .filter(qr_code::Column::Id.is_in(some.iter().copied()))
            .all(db)
            .await?
        {
            qr.insert(code.id, code);
        }
    }
    let counts = totals(db, &qr_ids).await?;
    let now = now_ms();
    Ok(codes
        .into_iter()
        .map(|c| {
            let state = State::of(&c, now);
            let code = qr.get(&c.qr_code_id);
            let (scans, new_followers) = counts.get(&c.qr_code_id).copied().unwrap_or_default();
            let image = |ext: &str| format!("{base_url}api/admin/channel-codes/{}.{ext}", c.id);
            ChannelCodeView {
                id: c.id,
                state,
                state_zh: state.zh(),
                enabled: c.enabled,
                permanent: c.permanent,
                expires_at: c.expires_at_ms.and_then(rfc3339_beijing),
                expires_at_ms: c.expires_at_ms,
                reply: Action::from_json(c.reply.as_deref()),
                welcome: Action::from_json(c.welcome.as_deref()),
                tag: c.tag,
                ticket: code.map(|q| q.ticket.clone()).unwrap_or_default(),
                url: code.map(|q| q.url.clone()).unwrap_or_default(),
                png_url: image("png"),
                svg_url: image("svg"),
                scans,
                new_followers,
                created_at_ms: c.created_at_ms,
                deleted_at_ms: c.deleted_at_ms,
                scene: c.scene,
                group: c.group_name,
                note: c.note,
                name: c.name,
            }
        })
        .collect())
}

/// One code as listed.
pub async fn view(
    db: &DatabaseConnection,
    base_url: &Url,
    code: channel_code::Model,
) -> Result<ChannelCodeView, DbErr> {
    Ok(views(db, base_url, vec![code])
        .await?
        .pop()
        .expect("one code in, one view out"))
}

/// The groups in use, for the console's filter.
pub async fn groups(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let groups: Vec<Option<String>> = channel_code::Entity::find()
        .select_only()
        .column(channel_code::Column::GroupName)
        .filter(channel_code::Column::GroupName.is_not_null())
        .distinct()
        .order_by_asc(channel_code::Column::GroupName)
        .into_tuple()
        .all(db)
        .await?;
    Ok(groups.into_iter().flatten().collect())
}

/// Every code's QR code, deleted ones included: the totals of them all.
pub async fn qr_code_ids(db: &DatabaseConnection) -> Result<Vec<i64>, DbErr> {
    channel_code::Entity::find()
        .select_only()
        .column(channel_code::Column::QrCodeId)
        .into_tuple()
        .all(db)
        .await
}

/// Which of `names` a code not deleted has.
pub async fn live_names_among(
    db: &DatabaseConnection,
    names: &[String],
) -> Result<Vec<String>, DbErr> {
    let mut taken = Vec::new();
    for some in db::chunks(names) {
        let found: Vec<Option<String>> = channel_code::Entity::find()
            .select_only()
            .column(channel_code::Column::LiveName)
            .filter(channel_code::Column::LiveName.is_in(some.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        taken.extend(found.into_iter().flatten());
    }
    taken.sort();
    Ok(taken)
}
