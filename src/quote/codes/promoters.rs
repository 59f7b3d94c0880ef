//! Promoter attribution: a permanent QR code per promoter; every scan of it is recorded
//! (through the QR registry, by ticket), and a `subscribe` through it is a new follower
//! credited to that promoter. WeChat allows 100,000 permanent codes per account, ever.

use std::collections::BTreeMap;

use entity::{qr_code, scan};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;

use super::{CodeKind, permanent};
use crate::AppError;
use crate::quote::Domain;
use crate::wechat::{Lifetime, Scene};

/// A promoter id: 1–100000 (QR_LIMIT_SCENE) or 1–64 characters (QR_LIMIT_STR_SCENE).
pub fn parse_promoter(text: &str) -> Result<Scene, AppError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 64 {
        return Err(AppError::bad_field("promoter", "推广员须为 1 到 64 个字符"));
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return match Scene::parse(text) {
            Some(scene @ Scene::Id(_)) if scene.check(Lifetime::Permanent).is_ok() => Ok(scene),
            _ => Err(AppError::bad_field(
                "promoter",
                "数字推广员编号须在 1 到 100000 之间",
            )),
        };
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(AppError::bad_field(
            "promoter",
            "推广员只能包含字母、数字、_ 和 -",
        ));
    }
    Ok(Scene::Str(text.to_owned()))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PromoterView {
    pub promoter: String,
    pub ticket: String,
    pub url: String,
    pub scans: u64,
    pub new_followers: u64,
    pub created_at_ms: i64,
}

/// Creates the promoter's permanent code (once: a second request for the same promoter
/// returns the existing one rather than spending another of the 100,000).
pub async fn create(domain: &Domain, promoter: &str) -> Result<(PromoterView, bool), AppError> {
    let scene = parse_promoter(promoter)?;
    let key = scene.to_string();
    if let Some(existing) = find_code(&domain.db, &key).await? {
        return Ok((view(&domain.db, existing).await?, false));
    }
    let code = permanent::create(domain, CodeKind::Promoter, &scene, &key).await?;
    Ok((view(&domain.db, code).await?, true))
}

pub async fn find_code(
    db: &DatabaseConnection,
    promoter: &str,
) -> Result<Option<qr_code::Model>, DbErr> {
    qr_code::Entity::find()
        .filter(qr_code::Column::Kind.eq(CodeKind::Promoter.as_str()))
        .filter(qr_code::Column::Target.eq(promoter))
        .one(db)
        .await
}

async fn view(db: &DatabaseConnection, code: qr_code::Model) -> Result<PromoterView, DbErr> {
    let scans = scan::Entity::find().filter(scan::Column::QrCodeId.eq(code.id));
    Ok(PromoterView {
        scans: scans.clone().count(db).await?,
        new_followers: scans
            .filter(scan::Column::Event.eq("subscribe"))
            .count(db)
            .await?,
        promoter: code.target,
        ticket: code.ticket,
        url: code.url,
        created_at_ms: code.created_at_ms,
    })
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<PromoterView>, DbErr> {
    let codes = qr_code::Entity::find()
        .filter(qr_code::Column::Kind.eq(CodeKind::Promoter.as_str()))
        .order_by_asc(qr_code::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(codes.len());
    for code in codes {
        out.push(view(db, code).await?);
    }
    Ok(out)
}

/// One day of a promoter's 30-day series (UTC+8 days, as the shops live them).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Day {
    pub date: String,
    pub scans: u64,
    pub new_followers: u64,
}

pub async fn last_30_days(db: &DatabaseConnection, promoter: &str) -> Result<Vec<Day>, AppError> {
    let code = find_code(db, promoter).await?.ok_or(AppError::NotFound)?;
    let china = chrono::FixedOffset::east_opt(8 * 3600).expect("constant offset");
    let today = chrono::Utc::now().with_timezone(&china).date_naive();
    let first = today - chrono::Days::new(29);
    let since = first
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_local_timezone(china)
        .single()
        .expect("fixed offset")
        .timestamp_millis();
    let mut days: BTreeMap<chrono::NaiveDate, (u64, u64)> = (0..30)
        .map(|i| (first + chrono::Days::new(i), (0, 0)))
        .collect();
    let rows = scan::Entity::find()
        .filter(scan::Column::QrCodeId.eq(code.id))
        .filter(scan::Column::ReceivedAtMs.gte(since))
        .all(db)
        .await?;
    for row in rows {
        let Some(at) = chrono::DateTime::from_timestamp_millis(row.received_at_ms) else {
            continue;
        };
        if let Some(day) = days.get_mut(&at.with_timezone(&china).date_naive()) {
            day.0 += 1;
            if row.event == "subscribe" {
                day.1 += 1;
            }
        }
    }
    Ok(days
        .into_iter()
        .map(|(d, (scans, new_followers))| Day {
            date: d.format("%m-%d").to_string(),
            scans,
            new_followers,
        })
        .collect())
}

/// The series as an inline SVG bar chart: bars are scans, their green part new followers.
pub fn chart_svg(days: &[Day]) -> String {
    let max = days.iter().map(|d| d.scans).max().unwrap_or(0).max(1);
    let (w, h, bar) = (300.0, 80.0, 300.0 / days.len().max(1) as f64);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {}\" width=\"100%\" role=\"img\" aria-label=\"近 30 天扫码与新关注\">",
        h + 14.0
    );
    for (i, d) in days.iter().enumerate() {
        let x = i as f64 * bar;
        let sh = d.scans as f64 / max as f64 * h;
        let fh = d.new_followers as f64 / max as f64 * h;
        svg.push_str(&format!(
            "<g><title>{}：扫码 {}，新关注 {}</title><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{sh:.1}\" fill=\"#b8d8c8\"/><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{fh:.1}\" fill=\"#07a35a\"/></g>",
            d.date, d.scans, d.new_followers, h - sh, bar - 1.0, h - fh, bar - 1.0
        ));
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"10\" fill=\"#5a5a60\">{}</text><text x=\"{w}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\" fill=\"#5a5a60\">{}</text>",
            h + 12.0, first.date, h + 12.0, last.date
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promoter_ids_follow_wechats_permanent_scene_rules() {
        assert_eq!(parse_promoter("1").unwrap(), Scene::Id(1));
        assert_eq!(parse_promoter("100000").unwrap(), Scene::Id(100_000));
        assert!(parse_promoter("100001").is_err());
        assert!(parse_promoter("0").is_err());
        assert_eq!(
            parse_promoter("shop-7").unwrap(),
            Scene::Str("shop-7".into())
        );
        assert!(parse_promoter(&"x".repeat(65)).is_err());
        assert!(parse_promoter("a b").is_err());
        assert!(parse_promoter("").is_err());
    }

    #[test]
    fn the_chart_has_a_bar_per_day_scaled_to_the_busiest() {
        let days: Vec<Day> = (0..30)
            .map(|i| Day {
                date: format!("d{i}"),
                scans: i,
                new_followers: i / 2,
            })
            .collect();
        let svg = chart_svg(&days);
        assert_eq!(svg.matches("<g>").count(), 30);
        assert!(svg.contains("d29：扫码 29，新关注 14"));
        assert!(
            svg.contains("height=\"80.0\""),
            "the busiest day fills the height"
        );
    }
}
