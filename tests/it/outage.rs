//! Store outages, made real by cutting a TCP proxy between Plaza and the store: the server
//! keeps ticking and serving, health says degraded, and once the store is back every latest
//! state is written.

use std::sync::atomic::Ordering;
use std::time::Duration;

use plaza::config::SecretUrl;
use plaza_net::{ClientMsg, Codec, ServerMsg, WireTransform};
use sqlx::Row;

use crate::services::{PgSchema, Proxy, RedisSpace, postgres_target, redis_target, redis_url};
use crate::support::{Client, TestServer, eventually, http_get};

/// Moves `id` to x = `x` and waits until `watcher` sees it: the server still serves.
async fn move_and_see(mover: &mut Client, watcher: &mut Client, id: uuid::Uuid, x: f32) {
    mover
        .send(&ClientMsg::Move {
            id,
            transform: WireTransform::at([x, 0.0, 0.0]),
            request: None,
        })
        .await;
    watcher
        .recv_until(|m| match m {
            ServerMsg::Delta { objects, .. } => objects
                .iter()
                .any(|o| o.id == id && o.transform.pos[0] == x)
                .then_some(()),
            _ => None,
        })
        .await;
}

#[tokio::test]
async fn a_postgres_outage_loses_nothing() {
    let schema = PgSchema::new().await;
    let proxy = Proxy::start(postgres_target()).await;
    let url = schema.url_via(proxy.addr);
    let server = TestServer::start_with(|c| c.database_url = Some(SecretUrl::new(url))).await;
    let addr = server.addr();
    let mut alice = server.client(Codec::Postcard, "alice").await;
    let mut bob = server.client(Codec::Json, "bob").await;
    alice.join("hall").await;
    bob.join("hall").await;
    let id = alice.spawn(1, [0.0; 3]).await;
    let writer = server.server.edge().writer_stats.clone();
    eventually(Duration::from_secs(5), "the spawn is flushed", || async {
        writer.flushes.load(Ordering::Relaxed) > 0
            && writer.pending_rows.load(Ordering::Relaxed) == 0
    })
    .await;

    proxy.cut();
    for step in 1..=20 {
        move_and_see(&mut alice, &mut bob, id, step as f32).await;
    }
    alice
        .send(&ClientMsg::Chat {
            text: "said during the outage".into(),
            request: None,
        })
        .await;
    bob.recv_until(|m| matches!(m, ServerMsg::Chat(_)).then_some(()))
        .await;
    eventually(
        Duration::from_secs(10),
        "health reports the outage",
        || async {
            let (status, body) = http_get(addr, "/health").await;
            status == 503 && body["store"]["state"] == "degraded"
        },
    )
    .await;
    assert!(
        writer.pending_rows.load(Ordering::Relaxed) >= 1,
        "writes wait in memory"
    );
    let tick_before = alice.tick().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(alice.tick().await > tick_before, "the world keeps ticking");

    proxy.restore();
    eventually(
        Duration::from_secs(20),
        "the store is back and everything is written",
        || async {
            let (status, body) = http_get(addr, "/health").await;
            status == 200 && body["store"]["pending_rows"] == 0
        },
    )
    .await;
    let row = sqlx::query("SELECT px, version FROM world_objects WHERE id = $1")
        .bind(id)
        .fetch_one(&schema.pool)
        .await
        .expect("the object is stored");
    assert_eq!(
        (row.get::<f32, _>("px"), row.get::<i64, _>("version")),
        (20.0, 21),
        "the latest state"
    );
    let chat: Vec<String> = sqlx::query_scalar("SELECT text FROM chat_messages")
        .fetch_all(&schema.pool)
        .await
        .expect("chat");
    assert_eq!(chat, vec!["said during the outage".to_string()]);
    drop((alice, bob));
    server.stop().await;
}

#[tokio::test]
async fn a_redis_outage_loses_nothing() {
    let schema = PgSchema::new().await;
    let mut redis = RedisSpace::new().await;
    let proxy = Proxy::start(redis_target()).await;
    let redis_via_proxy = RedisSpace::url_via(proxy.addr);
    let (db, prefix) = (schema.url(), redis.prefix.clone());
    let server = TestServer::start_with(move |c| {
        c.database_url = Some(SecretUrl::new(db));
        c.redis_url = Some(SecretUrl::new(redis_via_proxy));
        c.redis_prefix = prefix;
    })
    .await;
    assert!(redis_url().starts_with("redis://"));
    let addr = server.addr();
    let mut alice = server.client(Codec::Postcard, "alice").await;
    let mut bob = server.client(Codec::Postcard, "bob").await;
    let ServerMsg::Joined { space, .. } = alice.join("hall").await else {
        unreachable!()
    };
    bob.join("hall").await;
    let id = alice.spawn(1, [0.0; 3]).await;

    proxy.cut();
    for step in 1..=10 {
        move_and_see(&mut alice, &mut bob, id, step as f32).await;
    }
    eventually(
        Duration::from_secs(15),
        "health reports redis degraded",
        || async {
            let (status, body) = http_get(addr, "/health").await;
            status == 200 && body["redis"]["state"] == "degraded" && body["status"] == "degraded"
        },
    )
    .await;

    proxy.restore();
    eventually(
        Duration::from_secs(30),
        "redis is back and up to date",
        || async {
            let (_, body) = http_get(addr, "/health").await;
            body["redis"]["state"] == "ok" && body["redis"]["pending"] == 0
        },
    )
    .await;
    let key = format!("{}space:{space}", redis.prefix);
    let version: Option<u64> = redis.cmd(&[b"HGET", key.as_bytes(), b"~version"]).await;
    let pg_version: i64 = sqlx::query_scalar("SELECT version FROM spaces WHERE id = $1")
        .bind(space)
        .fetch_one(&schema.pool)
        .await
        .expect("the space");
    assert_eq!(
        version,
        Some(pg_version as u64),
        "the snapshot caught up with postgres"
    );
    let stored: Vec<u8> = redis.cmd(&[b"HGET", key.as_bytes(), id.as_bytes()]).await;
    assert!(!stored.is_empty(), "the object is in the snapshot");
    drop((alice, bob));
    server.stop().await;
}
