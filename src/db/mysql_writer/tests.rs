//! The writer against a real server (`TEST_MYSQL_URL`).
use super::*;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

impl MySqlWriter {
    /// The local port of the connection open now (opening one if none is).
    async fn client_port(&self) -> u16 {
        let mut held = self.conn.lock().await;
        let conn = self.open(&mut held).await.unwrap();
        crate::db::tests::client_port(conn).await
    }

    /// The server's id of the connection open now (opening one if none is).
    async fn connection_id(&self) -> u64 {
        let mut held = self.conn.lock().await;
        let conn = self.open(&mut held).await.unwrap();
        sqlx::query_scalar("SELECT CONNECTION_ID()")
            .fetch_one(conn)
            .await
            .unwrap()
    }
}

fn insert(table: &str, id: i32, note: &str) -> sea_orm::sea_query::InsertStatement {
    Query::insert()
        .into_table(Alias::new(table))
        .columns([Alias::new("id"), Alias::new("note")])
        .values_panic([id.into(), note.into()])
        .to_owned()
}

fn rename<const N: usize>(
    table: &str,
    ids: [i32; N],
    note: &str,
) -> sea_orm::sea_query::UpdateStatement {
    use sea_orm::sea_query::{Expr, ExprTrait};
    Query::update()
        .table(Alias::new(table))
        .value(Alias::new("note"), note)
        .and_where(Expr::col(Alias::new("id")).is_in(ids))
        .to_owned()
}

async fn notes(admin: &DatabaseConnection, table: &str) -> Vec<(i32, String)> {
    let sql = format!("SELECT id, note FROM {table} ORDER BY id");
    let rows = admin
        .query_all_raw(Statement::from_string(DbBackend::MySql, sql))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get_by_index(0).unwrap(),
                r.try_get_by_index(1).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_queued_read_goes_with_the_commit_and_sees_what_the_transaction_wrote() {
    use sea_orm::sea_query::ExprTrait;
    use sea_orm::sqlx::Row;
    let Some(url) = crate::db::tests::mysql_url() else {
        return;
    };
    let table = format!("writer_read_{:08x}", rand::random::<u32>());
    let admin = Database::connect(url.as_str()).await.unwrap();
    let create = format!("CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(64) NOT NULL)");
    admin.execute_unprepared(&create).await.unwrap();
    let writer = MySqlWriter::new(&url).await.unwrap();
    let read = Query::select()
        .columns([Alias::new("id"), Alias::new("note")])
        .from(Alias::new(&table))
        .and_where(sea_orm::sea_query::Expr::col(Alias::new("id")).lte(2))
        .order_by(Alias::new("id"), sea_orm::sea_query::Order::Asc)
        .to_owned();
    let ((), rows) = writer
        .transaction_reading(async |c| {
            c.queue(&insert(&table, 1, "one")).await?;
            c.queue(&insert(&table, 2, "two")).await?;
            c.queue(&insert(&table, 3, "three")).await?;
            c.run(&rename(&table, [1], "uno")).await?;
            // Queued last: it goes with the COMMIT.
            c.queue(&read).await
        })
        .await
        .unwrap();
    let read_back: Vec<(i32, String)> = rows
        .iter()
        .map(|r| (r.get::<i32, _>(0), r.get::<String, _>(1)))
        .collect();
    let expected = vec![(1, "uno".to_owned()), (2, "two".to_owned())];
    assert_eq!(read_back, expected, "the rows as the transaction left them");

    // Refused: no rows, and nothing of it stays.
    let refused = writer
        .transaction_reading(async |c| {
            c.queue(&rename(&table, [2], "deux")).await?;
            c.queue(&insert(&table, 1, "again")).await?;
            c.queue(&read).await
        })
        .await;
    assert!(crate::db::is_duplicate(&refused.unwrap_err()));
    assert_eq!(notes(&admin, &table).await.len(), 3);
    assert_eq!(notes(&admin, &table).await[1], (2, "two".to_owned()));
    // Without a read, none.
    let ((), rows) = writer
        .transaction_reading(async |c| c.queue(&insert(&table, 4, "four")).await)
        .await
        .unwrap();
    assert!(rows.is_empty());
    admin
        .execute_unprepared(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_transaction_is_all_or_nothing_and_a_killed_connection_is_replaced() {
    let Some(url) = crate::db::tests::mysql_url() else {
        return;
    };
    let table = format!("writer_test_{:08x}", rand::random::<u32>());
    let admin = Database::connect(url.as_str()).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(64) NOT NULL)"
        ))
        .await
        .unwrap();
    let server = crate::db::mysql_server(&url).await;
    let writer = MySqlWriter::new(&url).await.unwrap();
    writer.connect().await.unwrap();
    let first = writer.connection_id().await;
    let port = writer.client_port().await;
    assert_eq!(
        crate::db::nodelay::is_set_from(&server, port),
        Some(true),
        "the writer's socket has Nagle's algorithm off"
    );

    // Values are written into the statements: every character an escape could get
    // wrong, and a placeholder's mark.
    let odd = "it's a \\ \"quoted\" ? \0 \n\r\t \x1a \x08 报价 😀 \\'";
    let changed = writer
        .transaction(async |c| {
            c.queue(&insert(&table, 1, "one")).await?;
            c.queue(&insert(&table, 2, odd)).await?;
            // Run after two queued: all three in one round trip, its own count back.
            c.run(&rename(&table, [1, 2, 99], "one")).await
        })
        .await
        .unwrap();
    // Rows matched, as sqlx counts them (1 was so already), of the last statement alone.
    assert_eq!(changed, 2, "rows the run statement changed");
    let both = vec![(1, "one".to_owned()), (2, "one".to_owned())];
    assert_eq!(notes(&admin, &table).await, both);
    writer
        .transaction(async |c| c.queue(&rename(&table, [2], odd)).await)
        .await
        .unwrap();
    let both = vec![(1, "one".to_owned()), (2, odd.to_owned())];
    assert_eq!(notes(&admin, &table).await, both, "queued, then committed");

    // The second insert meets the primary key: nothing of the transaction stays,
    // the error says it was a duplicate, and the connection is kept.
    let refused = writer
        .transaction(async |c| {
            c.run(&insert(&table, 3, "three")).await?;
            c.queue(&insert(&table, 1, "again")).await?;
            c.queue(&insert(&table, 4, "four")).await
        })
        .await
        .unwrap_err();
    assert!(crate::db::is_duplicate(&refused), "{refused}");
    assert_eq!(notes(&admin, &table).await, both, "rolled back");
    assert_eq!(writer.connection_id().await, first, "the same connection");

    // The server kills it: at most one transaction fails, then a new one is opened.
    admin
        .execute_unprepared(&format!("KILL {first}"))
        .await
        .unwrap();
    let mut failed = 0;
    for id in 10..13 {
        let done = writer
            .transaction(async |c| c.run(&insert(&table, id, "after")).await)
            .await;
        failed += usize::from(done.is_err());
    }
    assert!(
        failed <= 1,
        "{failed} transactions failed on a killed connection"
    );
    assert_eq!(notes(&admin, &table).await.len(), 2 + 3 - failed);
    assert_ne!(writer.connection_id().await, first, "a new connection");
    let port = writer.client_port().await;
    let nodelay = crate::db::nodelay::is_set_from(&server, port);
    assert_eq!(nodelay, Some(true), "so is the new one's");
    admin
        .execute_unprepared(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}
