//! A team's codes at once: `prefix-01` … `prefix-NN` with the same settings. Every name
//! is checked free and the permanent quota counted before the first code is made; should
//! WeChat stop in the middle, the answer says how far it got.

use entity::channel_code;

use super::{MAX_NAME_CHARS, Settings, Validity, check_name, create, list, name_taken};
use crate::AppError;
use crate::quote::Domain;
use crate::quote::codes::permanent;

/// The most codes one batch makes.
pub const MAX_BATCH: u32 = 100;

/// A batch for a team: `prefix-01` … `prefix-NN`, the same settings each. Every name is
/// checked free and the quota counted before the first code is made.
pub async fn make(
    domain: &Domain,
    prefix: &str,
    count: u32,
    validity: Validity,
    settings: Settings,
) -> Result<Vec<channel_code::Model>, AppError> {
    let prefix = check_name("prefix", prefix)?;
    if !(1..=MAX_BATCH).contains(&count) {
        return Err(AppError::bad_field("count", "一次可生成 1 到 100 个渠道码"));
    }
    let width = count.to_string().len().max(2);
    let names: Vec<String> = (1..=count)
        .map(|i| format!("{prefix}-{i:0width$}"))
        .collect();
    if let Some(long) = names.iter().find(|n| n.chars().count() > MAX_NAME_CHARS) {
        return Err(AppError::bad_field(
            "prefix",
            format!("前缀太长：“{long}”超过了 64 个字"),
        ));
    }
    let settings = settings.checked()?;
    if let Some(taken) = list::live_names_among(&domain.db, &names).await?.first() {
        return Err(name_taken(taken));
    }
    if validity == Validity::Permanent && permanent::remaining(&domain.db).await? < u64::from(count)
    {
        return Err(AppError::Conflict(format!(
            "永久二维码只剩 {} 个，不够生成 {count} 个",
            permanent::remaining(&domain.db).await?
        )));
    }
    let mut made = Vec::with_capacity(names.len());
    for name in &names {
        match create(domain, name, validity, settings.clone()).await {
            Ok(code) => made.push(code),
            Err(e) if made.is_empty() => return Err(e),
            Err(e) => {
                return Err(AppError::Conflict(format!(
                    "已生成 {} 个（到“{}”为止），“{name}”起未生成：{}",
                    made.len(),
                    made.last().map(|c| c.name.as_str()).unwrap_or_default(),
                    reason_zh(&e)
                )));
            }
        }
    }
    Ok(made)
}

/// Why a code of a batch was not made, for the owner reading how far it got.
fn reason_zh(e: &AppError) -> String {
    match e {
        AppError::Upstream(w) => w
            .errcode()
            .and_then(crate::wechat::api::errcode_zh)
            .unwrap_or("微信接口暂时不可用，请稍后再试")
            .to_owned(),
        AppError::Conflict(reason) | AppError::BadRequest { reason, .. } => reason.clone(),
        _ => "服务器出错了，请稍后再试".to_owned(),
    }
}
