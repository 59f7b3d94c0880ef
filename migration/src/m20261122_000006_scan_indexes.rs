//! Scans: the index the promoter statistics filter by, in place of one nothing reads;
//! and event identities led by the push's time (see `ScanEvent::identity`).
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// WeChat retries a push within seconds; identities older than this can no longer be
/// met by a retry, so only the newer ones are rewritten.
const RETRY_HORIZON_MS: i64 = 10 * 60 * 1000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_scans_order")
                .table(Alias::new("scans"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_scans_qr_code")
                .table(Alias::new("scans"))
                .col(Alias::new("qr_code_id"))
                .col(Alias::new("received_at_ms"))
                .to_owned(),
        )
        .await?;
        rewrite_recent_identities(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_scans_qr_code")
                .table(Alias::new("scans"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_scans_order")
                .table(Alias::new("scans"))
                .col(Alias::new("order_id"))
                .to_owned(),
        )
        .await
    }
}

/// `openid|time|event|scene` → `time|openid|event|scene` for the scans a retry could
/// still meet, so a push recorded just before the upgrade is still known after it.
async fn rewrite_recent_identities(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = m.get_connection();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
        - RETRY_HORIZON_MS;
    let select = Query::select()
        .columns([Alias::new("id"), Alias::new("event_identity")])
        .from(Alias::new("scans"))
        .and_where(Expr::col(Alias::new("received_at_ms")).gte(since))
        .to_owned();
    for row in db.query_all(&select).await? {
        let id: i64 = row.try_get("", "id")?;
        let old: String = row.try_get("", "event_identity")?;
        let Some(new) = time_first(&old) else {
            continue;
        };
        let update = Query::update()
            .table(Alias::new("scans"))
            .value(Alias::new("event_identity"), new)
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned();
        db.execute(&update).await?;
    }
    Ok(())
}

/// The identity with its time first; `None` when it is not in the old form.
fn time_first(old: &str) -> Option<String> {
    let mut parts = old.splitn(4, '|');
    let (openid, time, event, scene) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let time: i64 = time.parse().ok()?;
    Some(format!("{time:012}|{openid}|{event}|{scene}"))
}

#[cfg(test)]
mod tests {
    use super::time_first;

    #[test]
    fn old_identities_get_their_time_first() {
        assert_eq!(
            time_first("oUser_1|1700000000|SCAN|42").as_deref(),
            Some("001700000000|oUser_1|SCAN|42")
        );
        // A scene may hold the separator; it is the last part and stays whole.
        assert_eq!(
            time_first("o2|1700000001|subscribe|a|b").as_deref(),
            Some("001700000001|o2|subscribe|a|b")
        );
        // Already rewritten (time first, openid second is not a number): left alone.
        assert_eq!(time_first("001700000000|oUser_1|SCAN|42"), None);
    }
}
