//! The databases the bench's services run on: a SQLite file each, or a MariaDB database
//! each, dropped at the end of the run.

use std::path::Path;

use scanquote::db::Synchronous;

/// `SQLITE_SYNCHRONOUS` as the service reads it (FULL when unset), for the cases that
/// write SQLite themselves; a value the service would refuse is refused here too, so a
/// typo cannot measure another setting than the one asked for.
pub fn sqlite_synchronous() -> anyhow::Result<Synchronous> {
    match std::env::var("SQLITE_SYNCHRONOUS") {
        Err(_) => Ok(Synchronous::default()),
        Ok(v) => Synchronous::parse(&v)
            .ok_or_else(|| anyhow::anyhow!("SQLITE_SYNCHRONOUS: full or normal, not {v:?}")),
    }
}

/// A fresh database for one service: a SQLite file, or a new MariaDB database.
pub async fn fresh_database(kind: &str, dir: &Path, n: usize) -> anyhow::Result<Option<String>> {
    match kind {
        "sqlite" => Ok(Some(format!(
            "sqlite://{}?mode=rwc",
            dir.join(format!("bench{n}.db")).display()
        ))),
        "mysql" => {
            let Ok(server) = std::env::var("TEST_MYSQL_URL") else {
                return Ok(None);
            };
            use sea_orm::ConnectionTrait;
            let name = format!("sq_bench_{}_{n}", std::process::id());
            let admin = sea_orm::Database::connect(server.as_str()).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`"))
                .await?;
            admin
                .execute_unprepared(&format!(
                    "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                ))
                .await?;
            let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(&server);
            Ok(Some(format!("{base}/{name}")))
        }
        other => anyhow::bail!("unknown database {other}"),
    }
}

/// Removes the MariaDB databases this run made.
pub async fn drop_bench_databases() {
    use sea_orm::{ConnectionTrait, Statement};
    let Ok(server) = std::env::var("TEST_MYSQL_URL") else {
        return;
    };
    let Ok(admin) = sea_orm::Database::connect(server.as_str()).await else {
        return;
    };
    let prefix = format!("sq_bench_{}_", std::process::id());
    let listed = admin
        .query_all_raw(Statement::from_string(
            admin.get_database_backend(),
            "SHOW DATABASES",
        ))
        .await
        .unwrap_or_default();
    for row in listed {
        if let Ok(name) = row.try_get_by_index::<String>(0)
            && name.starts_with(&prefix)
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE `{name}`"))
                .await;
        }
    }
}
