//! Housekeeping and feature flags: retention and view refreshes run inside the server, and
//! each feature can be switched off with the server behaving sensibly.

use plaza::config::SecretUrl;
use plaza_net::{Codec, ServerMsg};
use serde_json::json;
use uuid::Uuid;

use crate::services::{PgSchema, redis_url};
use crate::support::{Client, TestServer, WAIT, eventually, http_json};

#[tokio::test]
async fn retention_and_view_refreshes_run_in_the_server() {
    let schema = PgSchema::new().await;
    let url = schema.url();
    let server = TestServer::start_with(|c| {
        c.database_url = Some(SecretUrl::new(url.clone()));
        c.maintenance_interval_secs = 1;
        c.event_retention_days = 30;
        c.session_retention_days = 30;
    })
    .await;
    let db = &schema.pool;
    let user = Uuid::new_v4();
    sqlx::query("INSERT INTO users (id, name) VALUES ($1, 'old-timer')")
        .bind(user)
        .execute(db)
        .await
        .expect("a user");
    let old_session = Uuid::new_v4();
    sqlx::query("INSERT INTO sessions (id, user_id, transport, started_at, ended_at) VALUES ($1, $2, 'ws', now() - interval '61 days', now() - interval '60 days')")
        .bind(old_session).bind(user).execute(db).await.expect("an old session");
    sqlx::query("INSERT INTO events (kind, user_id, occurred_at) VALUES ('connect', $1, now() - interval '60 days'), ('connect', $1, now() - interval '1 day')")
        .bind(user).execute(db).await.expect("events");
    sqlx::query("INSERT INTO auth_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, now() - interval '1 hour')")
        .bind(vec![7u8; 32]).bind(user).execute(db).await.expect("an expired token");
    let mut client = Client::hello(server.addr(), Codec::Json, "today").await;
    client.join("now").await;

    eventually(WAIT, "old rows are pruned and the views refreshed", || async {
        let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE user_id = $1").bind(user).fetch_one(db).await.unwrap_or(-1);
        let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE id = $1").bind(old_session).fetch_one(db).await.unwrap_or(-1);
        let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_tokens").fetch_one(db).await.unwrap_or(-1);
        let active: i64 = sqlx::query_scalar("SELECT coalesce(sum(users), 0)::int8 FROM daily_active_users WHERE day = current_date").fetch_one(db).await.unwrap_or(-1);
        events == 1 && sessions == 0 && tokens == 0 && active >= 1
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn with_persistence_off_the_world_lives_in_memory_only() {
    let server = TestServer::start_with(|c| c.persistence_enabled = false).await;
    let mut client = Client::hello(server.addr(), Codec::Json, "ephemeral").await;
    client.join("sandcastle").await;
    client.spawn(1, [0.0; 3]).await;
    let (_, stats) = http_json(server.addr(), "GET", "/api/statistics", None, None).await;
    assert_eq!(stats["persistence"]["ok"], true);
    drop(client);
    let (dir, config) = server.stop().await;
    assert!(
        !config.sqlite_file().exists(),
        "no database file was written"
    );
    let server = TestServer::start_in(dir, config).await;
    let mut client = Client::hello(server.addr(), Codec::Json, "ephemeral").await;
    let ServerMsg::Joined { objects, .. } = client.join("sandcastle").await else {
        panic!("joined");
    };
    assert!(
        objects.is_empty(),
        "nothing survived the restart, as configured"
    );
    server.stop().await;
}

#[tokio::test]
async fn registration_and_redis_can_be_switched_off() {
    let server = TestServer::start_with(|c| {
        c.registration_enabled = false;
        c.redis_enabled = false;
        c.redis_url = Some(SecretUrl::new(redis_url()));
    })
    .await;
    let (status, body) = http_json(
        server.addr(),
        "POST",
        "/api/users",
        None,
        Some(json!({"name": "newcomer", "password": "a long enough password"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("registration"))
    );
    let mut guest = Client::hello(server.addr(), Codec::Json, "newcomer").await;
    guest.join("open").await;
    let (_, stats) = http_json(server.addr(), "GET", "/api/statistics", None, None).await;
    assert!(
        stats["redis"].is_null(),
        "redis is not used: {}",
        stats["redis"]
    );
    server.stop().await;
}
