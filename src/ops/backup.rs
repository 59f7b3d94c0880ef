//! `scanquote backup PATH`: a consistent copy of the SQLite database, made while the
//! service runs. SQLite's `VACUUM INTO` reads one snapshot (in WAL mode the service keeps
//! writing meanwhile) into a fresh file; it is written beside the target under a
//! temporary name, flushed to disk and renamed over it, so PATH is never half a backup.
//! For MySQL/MariaDB the server's own dump tool does the same job better, and the
//! command says how to run it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, Statement};
use url::Url;

/// What a finished backup holds, as read back from the copy.
#[derive(Debug)]
pub struct Copied {
    pub path: PathBuf,
    pub bytes: u64,
    pub orders: i64,
    pub deliveries: i64,
}

/// Why no backup was written, in the operator's words.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{0} 已经存在；要覆盖它请加 --force")]
    Exists(PathBuf),
    #[error("数据库文件 {0} 不存在：检查 DATABASE_URL")]
    NoDatabase(PathBuf),
    #[error("{0} 是数据库自己的文件：备份要放到别的路径")]
    OntoItself(PathBuf),
    #[error("内存数据库（sqlite::memory:）随进程消失，没有可备份的文件")]
    InMemory,
    /// MySQL/MariaDB: the dump command to run instead.
    #[error(
        "MySQL/MariaDB 的数据库请用 mariadb-dump 备份（--single-transaction 读一个一致的快照，不锁表，服务照常运行）：\n{0}"
    )]
    UseDump(String),
}

/// Copies the database `database_url` names to `target`.
pub async fn run(database_url: &str, target: &Path, force: bool) -> anyhow::Result<Copied> {
    if database_url.starts_with("mysql:") {
        return Err(Refusal::UseDump(dump_command(database_url, target)).into());
    }
    let Some(source) = super::sqlite_path(database_url) else {
        return Err(Refusal::InMemory.into());
    };
    if !source.exists() {
        return Err(Refusal::NoDatabase(source).into());
    }
    if is_the_database(&source, target) {
        return Err(Refusal::OntoItself(target.to_owned()).into());
    }
    if target.exists() && !force {
        return Err(Refusal::Exists(target.to_owned()).into());
    }
    let dir = directory_of(target).to_owned();
    let name = target
        .file_name()
        .with_context(|| format!("{} 不是一个文件名", target.display()))?;
    let partial = dir.join(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&partial);

    let (orders, deliveries) = match copy_checked(&source, &partial).await {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    // On disk before it takes the name, and the name on disk before we say it is done.
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, target)
        .with_context(|| format!("不能把备份放到 {}", target.display()))?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(Copied {
        path: target.to_owned(),
        bytes: std::fs::metadata(target)?.len(),
        orders,
        deliveries,
    })
}

/// The directory a backup goes to (a bare file name: the working directory).
fn directory_of(target: &Path) -> &Path {
    match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// `VACUUM INTO` `partial`, then the copy read back; its orders and deliveries.
async fn copy_checked(source: &Path, partial: &Path) -> anyhow::Result<(i64, i64)> {
    // `mode=rw`: never create the database it is asked to copy.
    let url = format!("sqlite://{}?mode=rw", source.display());
    let db = crate::db::connect(&url)
        .await
        .with_context(|| format!("打不开数据库 {}", source.display()))?;
    let copied = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "VACUUM INTO ?",
            [partial.to_string_lossy().into_owned().into()],
        ))
        .await;
    db.close().await.ok();
    copied.map_err(|e| anyhow::anyhow!("复制数据库失败：{e}"))?;
    check(partial).await
}

/// True when `target` is the database itself or one of its WAL files: a backup renamed
/// over them would pull the live database from under the service.
fn is_the_database(source: &Path, target: &Path) -> bool {
    let (Ok(source), Some(name)) = (source.canonicalize(), target.file_name()) else {
        return false;
    };
    let Ok(target) = directory_of(target).canonicalize().map(|d| d.join(name)) else {
        return false;
    };
    let live = source.as_os_str().to_string_lossy().into_owned();
    let named = target.as_os_str().to_string_lossy().into_owned();
    named == live || named == format!("{live}-wal") || named == format!("{live}-shm")
}

/// Opens the copy on its own and reads it back: intact, and its orders and deliveries.
async fn check(path: &Path) -> anyhow::Result<(i64, i64)> {
    // A plain connection: the service's would switch the copy to WAL, a write.
    let url = format!("sqlite://{}?mode=ro", path.display());
    let db = sea_orm::Database::connect(url).await?;
    let backend = db.get_database_backend();
    let one = |sql: &str| Statement::from_string(backend, sql.to_owned());
    let verdict = db
        .query_one_raw(one("PRAGMA quick_check"))
        .await?
        .and_then(|row| row.try_get_by_index::<String>(0).ok())
        .unwrap_or_default();
    if verdict != "ok" {
        bail!("备份文件校验失败：{verdict}");
    }
    let count = |table: &'static str| {
        let db = &db;
        async move {
            let row = db
                .query_one_raw(one(&format!("SELECT COUNT(*) FROM {table}")))
                .await?
                .context("COUNT answers one row")?;
            anyhow::Ok(row.try_get_by_index::<i64>(0)?)
        }
    };
    let (orders, deliveries) = (count("orders").await?, count("deliveries").await?);
    db.close().await.ok();
    Ok((orders, deliveries))
}

/// The `mariadb-dump` command for a `mysql://user:password@host:port/db` URL. The
/// password is never printed: `-p` asks for it.
pub fn dump_command(database_url: &str, target: &Path) -> String {
    let Ok(url) = Url::parse(database_url) else {
        return format!(
            "  mariadb-dump --single-transaction --quick 库名 > {}",
            target.display()
        );
    };
    let mut words = vec![
        "mariadb-dump".to_owned(),
        "--single-transaction".into(),
        "--quick".into(),
    ];
    if let Some(host) = url.host_str() {
        words.push(format!("--host={host}"));
    }
    if let Some(port) = url.port() {
        words.push(format!("--port={port}"));
    }
    if !url.username().is_empty() {
        words.push(format!("--user={}", url.username()));
    }
    if url.password().is_some() {
        words.push("-p".into());
    }
    words.push(url.path().trim_start_matches('/').to_owned());
    format!("  {} > {}", words.join(" "), target.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dump_command_names_the_server_and_never_the_password() {
        let cmd = dump_command(
            "mysql://shop:s3cret@db.internal:3307/scanquote",
            Path::new("/backup/sq.sql"),
        );
        assert_eq!(
            cmd,
            "  mariadb-dump --single-transaction --quick --host=db.internal --port=3307 --user=shop -p scanquote > /backup/sq.sql"
        );
        assert!(!cmd.contains("s3cret"));
    }
}
