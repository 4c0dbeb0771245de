//! A stalled store is visible and bounded: while something else holds a lock on the tables
//! the writer needs, `/health` reports how old the oldest unwritten change is and turns
//! degraded (503) past `max_unwritten_age_ms`; once the lock goes, everything is written.
//! (Before, a 30 s table lock left `/health` at "ok" with no statement or lock timeout.)

use std::time::Duration;

use plaza::config::SecretUrl;
use plaza_net::Codec;
use serde_json::Value;
use sqlx::Connection;

use crate::services::PgSchema;
use crate::support::{TestServer, WAIT, eventually, http_get};

/// A client that has joined a space, ready to make a change.
async fn joined(server: &TestServer) -> crate::support::Client {
    let mut client = server.client(Codec::Json, "staller").await;
    client.join("stalled").await;
    let (status, health) = http_get(server.addr(), "/health").await;
    assert_eq!(status, 200, "{health}");
    client
}

/// With the tables locked (until `release` is sent): spawns an object, checks health
/// degrades with the age of the change, releases the lock and checks the object is
/// written and health recovers.
async fn a_stall_degrades_health_until_written<F, Fut>(
    server: TestServer,
    mut client: crate::support::Client,
    release: tokio::sync::oneshot::Sender<()>,
    count: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = i64>,
{
    client.spawn(1, [1.0, 2.0, 3.0]).await;
    let addr = server.addr();
    let mut seen: Option<Value> = None;
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.is_none() {
        let (status, health) = http_get(addr, "/health").await;
        let age = health["store"]["unwritten_age_ms"].as_u64().unwrap_or(0);
        assert!(
            tokio::time::Instant::now() < deadline,
            "health never degraded: {health}"
        );
        if status == 503 && age >= 1_000 {
            seen = Some(health);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = seen.expect("seen");
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["store"]["state"], "degraded", "{health}");
    let (_, metrics) = crate::support::http_get_text(addr, "/metrics").await;
    let age_line = metrics
        .lines()
        .find(|l| l.starts_with("plaza_persist_unwritten_age_seconds "))
        .expect("the age is a metric");
    let age: f64 = age_line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!(age >= 1.0, "{age_line}");
    let _ = release.send(());
    eventually(WAIT, "the object is written once the lock is gone", || {
        let count = &count;
        async move { count().await == 1 }
    })
    .await;
    eventually(WAIT, "health recovers", || async move {
        let (status, health) = http_get(addr, "/health").await;
        status == 200 && health["store"]["unwritten_age_ms"] == 0
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_locked_postgres_table_shows_in_health() {
    let schema = PgSchema::new().await;
    let url = schema.url();
    let server = TestServer::start_with(|c| {
        c.database_url = Some(SecretUrl::new(url.clone()));
        c.store_lock_timeout_ms = 300;
        c.max_unwritten_age_ms = 1_000;
    })
    .await;
    let pool = schema.pool.clone();
    let client = joined(&server).await;
    let mut locker = sqlx::PgConnection::connect(&url).await.expect("connects");
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (locked, is_locked) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut tx = locker.begin().await.expect("begins");
        sqlx::query("LOCK TABLE world_objects IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .expect("locks");
        let _ = locked.send(());
        let _ = released.await;
        tx.rollback().await.expect("unlocks");
    });
    is_locked.await.expect("the table is locked");
    a_stall_degrades_health_until_written(server, client, release, || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar("SELECT count(*) FROM world_objects")
                .fetch_one(&pool)
                .await
                .expect("counts")
        }
    })
    .await;
}

#[tokio::test]
async fn a_locked_sqlite_file_shows_in_health() {
    let server = TestServer::start_with(|c| c.max_unwritten_age_ms = 1_000).await;
    let url = format!("sqlite://{}", server.config.sqlite_file().display());
    let client = joined(&server).await;
    let mut locker = sqlx::SqliteConnection::connect(&url).await.expect("opens");
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (locked, is_locked) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut locker)
            .await
            .expect("locks");
        let _ = locked.send(());
        let _ = released.await;
        sqlx::query("ROLLBACK")
            .execute(&mut locker)
            .await
            .expect("unlocks");
    });
    is_locked.await.expect("the file is locked");
    a_stall_degrades_health_until_written(server, client, release, || {
        let url = url.clone();
        async move {
            let mut db = sqlx::SqliteConnection::connect(&url).await.expect("opens");
            sqlx::query_scalar("SELECT count(*) FROM world_objects")
                .fetch_one(&mut db)
                .await
                .expect("counts")
        }
    })
    .await;
}
