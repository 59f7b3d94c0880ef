//! Stopping: a SIGTERM finishes what the instance has taken on (requests, the journal's
//! queue, sends under way) and exits within the grace.

use std::process::ExitStatus;
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;

use crate::support::{
    ServiceProcess, TestApp, TestDb, order_ticket_at, push_signed_to, push_signed_within, scan_xml,
};

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

/// SIGTERM, on a thread of its own (waiting for the exit blocks); answers the exit's
/// status and how long it took.
fn terminate(mut service: ServiceProcess) -> JoinHandle<(ExitStatus, Duration)> {
    tokio::task::spawn_blocking(move || service.terminate())
}

fn exited_within_the_grace((status, took): (ExitStatus, Duration)) {
    assert!(status.success(), "{status:?}");
    assert!(
        took < scanquote::SHUTDOWN_GRACE + Duration::from_secs(2),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_work_and_exits_within_the_grace() {
    let wechat = TestApp::spawn(TestDb::Sqlite).await;
    wechat.sandbox_open_recipients().await;
    // The send in flight at SIGTERM takes 1.5 s; it must still complete.
    wechat
        .sandbox_fault(json!({"api": "custom_send", "delay_ms": 1500, "count": 1}))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("term.db").display());
    let api = format!("{}/sandbox", wechat.base);
    let service = ServiceProcess::start(
        dir.path(),
        "term",
        &[
            ("DATABASE_URL", db.as_str()),
            ("WECHAT_API_BASE", api.as_str()),
        ],
    )
    .await;
    let ticket = order_ticket_at(&reqwest::Client::new(), &service.base).await;
    let xml = scan_xml("oTerminated001", "SCAN", "100001", Some(&ticket), now_s());
    assert_eq!(
        push_signed_to(&reqwest::Client::new(), &service.base, &xml)
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    exited_within_the_grace(terminate(service).await.unwrap());
    assert_eq!(
        wechat.inbox("oTerminated001").await.len(),
        1,
        "the in-flight send completed"
    );
    wechat.stop().await;
}

/// A push whose sender gave up (WeChat waits 5 s) before its scan was committed: the
/// journal still has it. A SIGTERM then waits for the journal, so the scan is recorded
/// and its message sent before the exit, not left claimed by an instance that is gone
/// until another takes it over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_waits_for_the_journal_and_sends_what_a_gone_sender_pushed() {
    use sea_orm::TransactionTrait;
    use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let wechat = TestApp::spawn(TestDb::Sqlite).await;
    wechat.sandbox_open_recipients().await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("gone.db").display());
    let api = format!("{}/sandbox", wechat.base);
    let vars = [
        ("DATABASE_URL", db.as_str()),
        ("WECHAT_API_BASE", api.as_str()),
    ];
    let service = ServiceProcess::start(dir.path(), "gone", &vars).await;
    let http = reqwest::Client::new();
    let ticket = order_ticket_at(&http, &service.base).await;
    // Another writer holds the database: the journal's batch waits for it.
    let other = sea_orm::Database::connect(db.as_str()).await.unwrap();
    let holding = other.begin().await.unwrap();
    holding
        .execute_unprepared("DELETE FROM push_signatures WHERE 1 = 0")
        .await
        .unwrap();

    let xml = scan_xml("oSenderGone01", "SCAN", "100001", Some(&ticket), now_s());
    let token = scanquote::config::SANDBOX_TOKEN;
    let patience = Duration::from_millis(500);
    let gave_up = push_signed_within(&http, &service.base, token, &xml, patience).await;
    assert!(
        gave_up.as_ref().is_err_and(reqwest::Error::is_timeout),
        "the push should have waited for the database: {gave_up:?}"
    );
    let stopping = terminate(service);
    tokio::time::sleep(Duration::from_millis(700)).await;
    holding.rollback().await.unwrap();
    exited_within_the_grace(stopping.await.unwrap());
    assert_eq!(
        wechat.inbox("oSenderGone01").await.len(),
        1,
        "the scan was recorded and its message sent before the exit"
    );
    let claimed = entity::delivery::Entity::find()
        .filter(entity::delivery::Column::Status.eq("sending"))
        .count(&other)
        .await
        .unwrap();
    assert_eq!(
        claimed, 0,
        "no message left claimed by the stopped instance"
    );
    wechat.stop().await;
}
