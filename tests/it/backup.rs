//! `scanquote backup`, run as the binary beside a service under load: the copy is
//! consistent, restores, and holds every order and message acknowledged before it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::support::{
    ADMIN_TOKEN, ServiceProcess, create_order_at, sandbox_scan_at, site_key_at, ticket_at,
};

fn backup(database_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_scanquote"))
        .arg("backup")
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap()
}

/// One shopper's whole story through the sandbox: an order, its code, a scan (its push
/// acknowledged once the scan and its message are committed). Returns the order's
/// token and the shopper's openid.
async fn one_scan(http: &reqwest::Client, base: &str, key: &str, n: usize) -> (String, String) {
    let token = create_order_at(http, base, key).await;
    let ticket = ticket_at(http, base, &token).await;
    let openid = sandbox_scan_at(http, base, &format!("备份{n}"), &ticket).await;
    (token, openid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_restores_every_order_and_message_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let live = format!("sqlite://{}?mode=rwc", dir.path().join("live.db").display());
    let mut service = ServiceProcess::start(dir.path(), "live", &[("DATABASE_URL", &live)]).await;
    let http = reqwest::Client::new();
    let key = site_key_at(&http, &service.base, ADMIN_TOKEN).await;

    let done: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..4 {
        let (http, base, key) = (http.clone(), service.base.clone(), key.clone());
        let (done, stop) = (done.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut n = worker * 100_000;
            while !stop.load(Ordering::Relaxed) {
                let story = one_scan(&http, &base, &key, n).await;
                done.lock().unwrap().push(story);
                n += 1;
            }
        }));
    }
    while done.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let copy = dir.path().join("copy.db");
    let before: Vec<(String, String)> = done.lock().unwrap().clone();
    let out = {
        let (live, copy) = (live.clone(), copy.display().to_string());
        tokio::task::spawn_blocking(move || backup(&live, &[&copy]))
            .await
            .unwrap()
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("已备份到 "), "{stdout}");
    // The service kept taking scans meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let total = done.lock().unwrap().len();
    assert!(total > before.len(), "scans went on during the backup");

    // Never over an existing file without --force; with it, a fresh copy replaces it.
    let first = std::fs::read(&copy).unwrap();
    let again = backup(&live, &[copy.to_str().unwrap()]);
    assert!(!again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("已经存在；要覆盖它请加 --force"), "{said}");
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        first,
        "the old backup is untouched"
    );
    let forced = backup(&live, &[copy.to_str().unwrap(), "--force"]);
    assert!(forced.status.success());
    let forced_text = String::from_utf8_lossy(&forced.stdout);
    assert!(
        forced_text.contains(&format!("{total} 个订单")),
        "the forced copy has every order made by now: {forced_text}"
    );
    std::fs::write(&copy, &first).unwrap();
    assert!(
        !std::fs::read_dir(dir.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".partial")),
        "no partial file is left behind"
    );

    // Restore: the service stopped, the copy put where a database goes, started again.
    service.terminate();
    let restored_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&copy, restored_dir.path().join("scanquote.db")).unwrap();
    let restored_url = format!(
        "sqlite://{}?mode=rwc",
        restored_dir.path().join("scanquote.db").display()
    );
    let restored = ServiceProcess::start(
        restored_dir.path(),
        "restored",
        &[("DATABASE_URL", &restored_url)],
    )
    .await;
    for (token, _) in &before {
        let r = http
            .get(format!("{}/api/orders/{token}", restored.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "order {token} is in the restored database");
    }
    let db = sea_orm::Database::connect(restored_url.as_str())
        .await
        .unwrap();
    let messaged: HashSet<String> = entity::delivery::Entity::find()
        .filter(entity::delivery::Column::Kind.eq("message"))
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.openid)
        .collect();
    for (_, openid) in &before {
        assert!(
            messaged.contains(openid),
            "the message to {openid} is in the restored database"
        );
    }
}

#[test]
fn mysql_is_told_to_use_mariadb_dump_with_the_command_to_run() {
    let out = backup(
        "mysql://shop:s3cret@127.0.0.1:3306/scanquote",
        &["/backup/scanquote.sql"],
    );
    assert!(!out.status.success(), "no backup was written");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(
            "mariadb-dump --single-transaction --quick --host=127.0.0.1 --port=3306 --user=shop -p scanquote > /backup/scanquote.sql"
        ),
        "{said}"
    );
    assert!(!said.contains("s3cret"), "the password is never printed");
}

#[test]
fn a_missing_database_is_named_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    let out = backup(
        &format!("sqlite://{}?mode=rwc", db.display()),
        &[dir.path().join("b.db").to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("不存在"));
    assert!(!db.exists() && !dir.path().join("b.db").exists());
}

#[test]
fn a_backup_onto_the_database_itself_is_refused_even_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let migrated = std::process::Command::new(env!("CARGO_BIN_EXE_scanquote"))
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let before = std::fs::read(&db).unwrap();
    let wal = format!("{}-wal", db.display());
    let relative = dir.path().join(".").join("live.db");
    for target in [
        db.to_str().unwrap(),
        wal.as_str(),
        relative.to_str().unwrap(),
    ] {
        let out = backup(&url, &[target, "--force"]);
        assert!(!out.status.success(), "{target}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("是数据库自己的文件"), "{target}: {said}");
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database is untouched"
    );

    // A directory that does not exist is named, not half-written.
    let nowhere = dir.path().join("no/such/dir/b.db");
    let out = backup(&url, &[nowhere.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("复制数据库失败"));
}
