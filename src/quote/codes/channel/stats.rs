//! A channel code's numbers, by Beijing day, from the scans of its QR code and the
//! unfollows recorded: scans (人次), distinct scanners (人数), new followers (their scan
//! made them follow), existing followers (already following at their first scan of
//! the code) and unfollows (followers the code brought who later left). Several codes
//! read together are merged: a person who scanned two of them is one scanner.

use std::collections::{BTreeMap, HashMap, HashSet};

use entity::{scan, unfollow};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;

use crate::quote::beijing;
use crate::{db, now_ms};

/// The longest series asked for, in days.
pub const MAX_DAYS: u32 = 366;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Numbers {
    pub scans: u64,
    pub scanners: u64,
    pub new_followers: u64,
    pub existing_followers: u64,
    pub unfollows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Day {
    /// `YYYY-MM-DD`, Beijing time.
    pub date: String,
    #[serde(flatten)]
    pub numbers: Numbers,
}

/// The totals over the days asked for, and each day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Stats {
    #[serde(flatten)]
    pub totals: Numbers,
    pub days: Vec<Day>,
}

/// Who did what on which day: the sets behind the numbers.
#[derive(Default)]
struct Tally<'a> {
    scans: u64,
    scanners: HashSet<&'a str>,
    new: HashSet<&'a str>,
    existing: HashSet<&'a str>,
    left: HashSet<&'a str>,
}

impl Tally<'_> {
    fn numbers(&self) -> Numbers {
        Numbers {
            scans: self.scans,
            scanners: self.scanners.len() as u64,
            new_followers: self.new.len() as u64,
            existing_followers: self.existing.len() as u64,
            unfollows: self.left.len() as u64,
        }
    }
}

/// The scans of the channel codes' QR codes `qr_ids`. No order's scan is one of them,
/// and saying so lets SQLite read the index that holds only the scans that are not an
/// order's (migration 12) instead of every scan.
pub(super) fn of_codes(qr_ids: &[i64]) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(scan::Column::QrCodeId.is_in(qr_ids.iter().copied()))
        .add(scan::Column::OrderId.is_null())
}

/// The numbers of the QR codes `qr_ids` over the last `days` Beijing days, today
/// included.
pub async fn stats(db: &DatabaseConnection, qr_ids: &[i64], days: u32) -> Result<Stats, DbErr> {
    let days = days.clamp(1, MAX_DAYS);
    let china = beijing();
    let day_of = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&china).date_naive())
    };
    let today = day_of(now_ms()).expect("now is a time");
    let first = today - chrono::Days::new(u64::from(days - 1));
    // Every scan of the codes, oldest first: a scanner's first scan decides whether
    // they were following already, even when it was before the series.
    let mut scans: Vec<(String, String, i64)> = Vec::new();
    for some in db::chunks(qr_ids) {
        scans.extend(
            scan::Entity::find()
                .select_only()
                .column(scan::Column::Openid)
                .column(scan::Column::Event)
                .column(scan::Column::ReceivedAtMs)
                .filter(of_codes(some))
                .into_tuple::<(String, String, i64)>()
                .all(db)
                .await?,
        );
    }
    scans.sort_by_key(|s| s.2);
    // Who followed through the codes, and when first.
    let mut followed: HashMap<&str, i64> = HashMap::new();
    for (openid, event, at) in &scans {
        if event == "subscribe" {
            followed.entry(openid.as_str()).or_insert(*at);
        }
    }
    let brought: Vec<String> = followed.keys().map(|o| (*o).to_owned()).collect();
    let mut unfollows: Vec<(String, i64)> = Vec::new();
    for some in db::chunks(&brought) {
        unfollows.extend(
            unfollow::Entity::find()
                .select_only()
                .column(unfollow::Column::Openid)
                .column(unfollow::Column::AtMs)
                .filter(unfollow::Column::Openid.is_in(some.iter().cloned()))
                .into_tuple::<(String, i64)>()
                .all(db)
                .await?,
        );
    }
    let mut by_day: BTreeMap<chrono::NaiveDate, Tally> = (0..days)
        .map(|i| (first + chrono::Days::new(u64::from(i)), Tally::default()))
        .collect();
    let mut total = Tally::default();
    let mut seen: HashSet<&str> = HashSet::new();
    for (openid, event, at) in &scans {
        let first_scan = seen.insert(openid.as_str());
        let Some(tally) = day_of(*at).and_then(|d| by_day.get_mut(&d)) else {
            continue;
        };
        for t in [&mut *tally, &mut total] {
            t.scans += 1;
            t.scanners.insert(openid);
            if event == "subscribe" {
                t.new.insert(openid);
            } else if first_scan {
                t.existing.insert(openid);
            }
        }
    }
    for (openid, at) in &unfollows {
        let Some((openid, since)) = followed.get_key_value(openid.as_str()) else {
            continue;
        };
        if at <= since {
            continue;
        }
        if let Some(tally) = day_of(*at).and_then(|d| by_day.get_mut(&d)) {
            tally.left.insert(openid);
            total.left.insert(openid);
        }
    }
    Ok(Stats {
        totals: total.numbers(),
        days: by_day
            .iter()
            .map(|(date, t)| Day {
                date: date.format("%Y-%m-%d").to_string(),
                numbers: t.numbers(),
            })
            .collect(),
    })
}

/// The series as an inline SVG bar chart with its numbers: each bar is a day's scans,
/// its green part the new followers, the scans written above it.
pub fn chart_svg(days: &[Day]) -> String {
    let max = days
        .iter()
        .map(|d| d.numbers.scans)
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, top) = (600.0, 120.0, 14.0);
    let bar = w / days.len().max(1) as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {}\" width=\"100%\" role=\"img\" aria-label=\"每日扫码与新关注\">",
        h + top + 16.0
    );
    for (i, d) in days.iter().enumerate() {
        let n = d.numbers;
        let x = i as f64 * bar;
        let sh = n.scans as f64 / max as f64 * h;
        let fh = n.new_followers as f64 / max as f64 * h;
        svg.push_str(&format!(
            "<g><title>{}：扫码 {} 次，{} 人，新关注 {}，已关注 {}，取关 {}</title><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{sh:.1}\" fill=\"#b8d8c8\"/><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{fh:.1}\" fill=\"#07a35a\"/>",
            d.date, n.scans, n.scanners, n.new_followers, n.existing_followers, n.unfollows,
            top + h - sh, (bar - 1.0).max(0.5), top + h - fh, (bar - 1.0).max(0.5)
        ));
        if n.scans > 0 && days.len() <= 31 {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#1a1a1a\">{}</text>",
                x + bar / 2.0,
                top + h - sh - 3.0,
                n.scans
            ));
        }
        svg.push_str("</g>");
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let y = top + h + 13.0;
        svg.push_str(&format!(
            "<text x=\"3\" y=\"{y}\" font-size=\"11\" fill=\"#5a5a60\">{}</text><text x=\"{}\" y=\"{y}\" font-size=\"11\" text-anchor=\"end\" fill=\"#5a5a60\">{}</text>",
            &first.date[5..],
            w - 3.0,
            &last.date[5..]
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_codes_scans_are_read_through_the_index_of_scans_that_are_not_an_orders() {
        use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement};
        let (_dir, _, conn) = db::tests::migrated_file().await;
        let index: String = conn
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT sql FROM sqlite_master WHERE name = 'idx_scans_qr_code'",
            ))
            .await
            .unwrap()
            .expect("the index exists")
            .try_get_by_index(0)
            .unwrap();
        assert!(index.ends_with("WHERE order_id IS NULL"), "{index}");
        let select = scan::Entity::find()
            .filter(of_codes(&[1, 2]))
            .build(DbBackend::Sqlite);
        let plan = conn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!("EXPLAIN QUERY PLAN {}", select.sql),
                select.values.map(|v| v.0).unwrap_or_default(),
            ))
            .await
            .unwrap();
        let steps: Vec<String> = plan
            .iter()
            .map(|row| row.try_get_by_index::<String>(3).unwrap())
            .collect();
        assert!(
            steps
                .iter()
                .any(|s| s.contains("USING INDEX idx_scans_qr_code")),
            "{steps:?}"
        );
    }

    #[test]
    fn the_chart_has_a_bar_per_day_with_its_number_scaled_to_the_busiest() {
        let days: Vec<Day> = (0..30)
            .map(|i| Day {
                date: format!("2026-11-{:02}", i + 1),
                numbers: Numbers {
                    scans: i,
                    new_followers: i / 2,
                    ..Numbers::default()
                },
            })
            .collect();
        let svg = chart_svg(&days);
        assert_eq!(svg.matches("<g>").count(), 30);
        assert!(svg.contains("2026-11-30：扫码 29 次"));
        assert!(
            svg.contains(">29</text>"),
            "the busiest day's number is written"
        );
        assert!(
            svg.contains("height=\"120.0\""),
            "the busiest day fills the height"
        );
    }
}
