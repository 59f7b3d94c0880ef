//! Channel codes (渠道码): one kind of code for promoters and scene replies, with a name,
//! group, note, validity, reply, welcome and tag. Existing promoter codes and scene
//! replies become channel codes on the same QR code, so their scans (and so their
//! numbers) carry over. Unfollows are recorded (a code's numbers show who left), and
//! WeChat's tag ids are remembered by name.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, TransactionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut t = crate::new_table(m, "channel_codes");
        t.col(big_pk_auto("id"))
            .col(string_len("name", 64))
            // The name while the code is not deleted: unique among live codes only.
            .col(string_len_null("live_name", 64).unique_key())
            .col(string_len_null("group_name", 32))
            .col(string_len_null("note", 200))
            .col(boolean("permanent"))
            .col(big_integer_null("expires_at_ms"))
            .col(boolean("enabled"))
            .col(big_integer_null("deleted_at_ms"))
            .col(text_null("reply"))
            .col(text_null("welcome"))
            .col(string_len_null("tag", 30))
            .col(big_integer("qr_code_id"))
            .col(string_len("scene", 64))
            .col(big_integer("created_at_ms"))
            .col(big_integer("updated_at_ms"));
        m.create_table(t.to_owned()).await?;
        m.create_index(
            Index::create()
                .name("idx_channel_codes_qr_code")
                .table(Alias::new("channel_codes"))
                .col(Alias::new("qr_code_id"))
                .to_owned(),
        )
        .await?;
        let mut t = crate::new_table(m, "unfollows");
        t.col(big_pk_auto("id"))
            .col(string_len_uniq("event_identity", 160))
            .col(string_len("openid", 64))
            .col(big_integer("at_ms"));
        m.create_table(t.to_owned()).await?;
        m.create_index(
            Index::create()
                .name("idx_unfollows_openid")
                .table(Alias::new("unfollows"))
                .col(Alias::new("openid"))
                .to_owned(),
        )
        .await?;
        let mut t = crate::new_table(m, "wechat_tags");
        t.col(string_len("name", 30).primary_key())
            .col(big_integer("tag_id"));
        m.create_table(t.to_owned()).await?;
        // A code's numbers read its scans by `idx_scans_qr_code` (migration 6).
        carry_over(m).await
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "promoter codes and scene replies became channel codes; that is not undone".into(),
        ))
    }
}

/// Every promoter code and scene reply as a channel code on its own QR code; a scene
/// reply whose name a promoter has already gets "（场景回复）" after it.
async fn carry_over(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = m.get_connection();
    let col = |name: &str| Alias::new(name);
    let promoters = db
        .query_all(
            &Query::select()
                .columns(["id", "target", "scene", "created_at_ms"].map(col))
                .from(col("qr_codes"))
                .and_where(Expr::col(col("kind")).eq("promoter"))
                .to_owned(),
        )
        .await?;
    let replies = db
        .query_all(
            &Query::select()
                .columns(["scene", "text", "qr_code_id", "created_at_ms"].map(col))
                .from(col("scene_replies"))
                .and_where(Expr::col(col("qr_code_id")).is_not_null())
                .to_owned(),
        )
        .await?;
    let txn = db.begin().await?;
    let mut names = std::collections::HashSet::new();
    let mut carried: Vec<(i64, String, String, Option<String>, i64)> = Vec::new();
    for row in promoters {
        let name: String = row.try_get("", "target")?;
        names.insert(name.clone());
        carried.push((
            row.try_get("", "id")?,
            name,
            row.try_get("", "scene")?,
            None,
            row.try_get("", "created_at_ms")?,
        ));
    }
    for row in replies {
        let scene: String = row.try_get("", "scene")?;
        let text: String = row.try_get("", "text")?;
        let mut name = scene.clone();
        if !names.insert(name.clone()) {
            name = format!("{scene}（场景回复）");
            names.insert(name.clone());
        }
        carried.push((
            row.try_get("", "qr_code_id")?,
            name,
            scene,
            Some(serde_json::json!({ "text": text }).to_string()),
            row.try_get("", "created_at_ms")?,
        ));
    }
    for (qr_code_id, name, scene, reply, created) in carried {
        txn.execute(
            &Query::insert()
                .into_table(col("channel_codes"))
                .columns(
                    [
                        "name",
                        "live_name",
                        "permanent",
                        "enabled",
                        "reply",
                        "qr_code_id",
                        "scene",
                        "created_at_ms",
                        "updated_at_ms",
                    ]
                    .map(col),
                )
                .values_panic([
                    name.clone().into(),
                    name.clone().into(),
                    true.into(),
                    true.into(),
                    reply.into(),
                    qr_code_id.into(),
                    scene.into(),
                    created.into(),
                    created.into(),
                ])
                .to_owned(),
        )
        .await?;
        let id: i64 = txn
            .query_one(
                &Query::select()
                    .column(col("id"))
                    .from(col("channel_codes"))
                    .and_where(Expr::col(col("live_name")).eq(name))
                    .to_owned(),
            )
            .await?
            .ok_or_else(|| DbErr::Migration("a channel code just written is gone".into()))?
            .try_get("", "id")?;
        txn.execute(
            &Query::update()
                .table(col("qr_codes"))
                .value(col("kind"), "channel")
                .value(col("target"), id.to_string())
                .and_where(Expr::col(col("id")).eq(qr_code_id))
                .to_owned(),
        )
        .await?;
    }
    txn.commit().await
}
