use super::*;

/// The query planner stability guarantee as the connection has it (-1 only asks).
async fn keeps_plans(conn: &mut sea_orm::sqlx::SqliteConnection) -> bool {
    keep_query_plans(conn, -1)
        .await
        .expect("the connection's handle")
        .expect("SQLite answers the question")
}

#[tokio::test]
async fn every_sqlite_connection_keeps_its_query_plans_whatever_is_bound() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let shared = connect(&url).await.unwrap();
    let writer = connect_writer(&url, &shared, Synchronous::Full)
        .await
        .unwrap();
    // All of the shared pool's connections at once, so each is a distinct one.
    let pool = shared.get_sqlite_connection_pool();
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(pool.acquire().await.unwrap());
    }
    for conn in &mut held {
        assert!(keeps_plans(conn).await, "a shared connection");
    }
    let Writer::Dedicated(writer) = writer else {
        panic!("a SQLite file gets a writer of its own");
    };
    assert!(writer.keeps_query_plans().unwrap(), "the writer");
}

/// A migrated SQLite file in a directory of its own (gone with the directory): the
/// directory, the file's URL and a shared pool on it.
pub(crate) async fn migrated_file() -> (tempfile::TempDir, String, DatabaseConnection) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let pool = connect(&url).await.unwrap();
    migrate(&pool).await.unwrap();
    (dir, url, pool)
}

/// The MySQL server of the tests, if `TEST_MYSQL_URL` names one.
pub(crate) fn mysql_url() -> Option<String> {
    let url = std::env::var("TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("TEST_MYSQL_URL is not set: skipped");
    }
    url
}

/// The local port of `conn`'s socket, as the server sees the client's address.
pub(super) async fn client_port(conn: &mut sea_orm::sqlx::MySqlConnection) -> u16 {
    let host: String = sea_orm::sqlx::query_scalar(
        "SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()",
    )
    .fetch_one(conn)
    .await
    .unwrap();
    let port = host.rsplit(':').next().and_then(|p| p.parse().ok());
    port.unwrap_or_else(|| panic!("{host} names a TCP client's port"))
}

/// The first column of `sql`'s one row, through the pool.
async fn number(db: &DatabaseConnection, sql: &str) -> Result<i64, sea_orm::DbErr> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(DbBackend::MySql, sql))
        .await?
        .expect("a row");
    row.try_get_by_index::<u64>(0)
        .map(|n| n as i64)
        .or_else(|_| {
            row.try_get_by_index::<String>(1)
                .map(|n| n.parse().unwrap())
        })
        .map_err(|e| sea_orm::DbErr::Custom(format!("{e:?}")))
}

#[tokio::test]
async fn a_busy_mysql_connection_is_pinged_once_per_use_and_a_killed_one_replaced() {
    let Some(url) = mysql_url() else { return };
    // The shared pool's options, with one connection: each statement uses it.
    let mut options = pool_options(&url, Synchronous::Full).await;
    options.max_connections(1);
    let shared = Database::connect(options).await.unwrap();
    let pings = "SHOW SESSION STATUS LIKE 'Com_admin_commands'";
    let id = number(&shared, "SELECT CONNECTION_ID()").await.unwrap();
    let before = number(&shared, pings).await.unwrap();
    let after = number(&shared, pings).await.unwrap();
    assert_eq!(number(&shared, "SELECT CONNECTION_ID()").await.unwrap(), id);
    // Between two statements: the ping when it was given back, none when taken.
    assert_eq!(after - before, 1, "pings between two statements");

    // The server kills it: at most one statement fails, and the pool, finding it
    // dead when it comes back, opens another.
    let admin = Database::connect(url.as_str()).await.unwrap();
    admin
        .execute_unprepared(&format!("KILL {id}"))
        .await
        .unwrap();
    let mut failed = 0;
    for _ in 0..3 {
        if number(&shared, "SELECT CONNECTION_ID()").await.is_err() {
            failed += 1;
        }
    }
    assert!(
        failed <= 1,
        "{failed} statements failed on a killed connection"
    );
    let now = number(&shared, "SELECT CONNECTION_ID()").await.unwrap();
    assert_ne!(now, id, "a new connection");
}

#[tokio::test]
async fn every_mysql_connection_sends_without_waiting_for_acknowledgements() {
    let Some(url) = mysql_url() else { return };
    let shared = connect(&url).await.unwrap();
    // Several at once, so that they are distinct connections, each set up anew.
    let pool = shared.get_mysql_connection_pool();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(pool.acquire().await.unwrap());
    }
    let server = mysql_server(&url).await;
    assert!(!server.is_empty(), "{url} resolves");
    for conn in &mut held {
        let port = client_port(conn).await;
        assert_eq!(
            nodelay::is_set_from(&server, port),
            Some(true),
            "the connection from port {port} has Nagle's algorithm off"
        );
    }
}

#[tokio::test]
async fn the_chosen_durability_is_what_every_connection_runs_with() {
    use sea_orm::Statement;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    // PRAGMA synchronous answers 1 for NORMAL, 2 for FULL.
    for (sync, expected) in [(Synchronous::Normal, 1), (Synchronous::Full, 2)] {
        let shared = connect_with(&url, sync).await.unwrap();
        let writer = connect_writer(&url, &shared, sync).await.unwrap();
        let row = shared
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA synchronous",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.try_get_by_index::<i32>(0).unwrap(),
            expected,
            "{sync:?}"
        );
        let Writer::Dedicated(writer) = writer else {
            panic!("a SQLite file gets a writer of its own");
        };
        assert_eq!(writer.setting("synchronous").unwrap(), i64::from(expected));
        assert_eq!(writer.setting("foreign_keys").unwrap(), 1, "as sqlx's");
    }
}
