//! Redis snapshots and presence: a space loads from its snapshot when the snapshot is at
//! least as new as Postgres, and from Postgres otherwise (re-warming the snapshot).

use std::sync::atomic::Ordering;
use std::time::Duration;

use plaza::config::SecretUrl;
use plaza_net::{ClientMsg, Codec, ServerMsg, WireTransform};

use crate::services::{PgSchema, RedisSpace, redis_url};
use crate::support::{TestServer, eventually};

fn with_stores(schema: &PgSchema, redis: &RedisSpace) -> impl FnOnce(&mut plaza::Config) {
    let (db, prefix) = (schema.url(), redis.prefix.clone());
    move |c| {
        c.database_url = Some(SecretUrl::new(db));
        c.redis_url = Some(SecretUrl::new(redis_url()));
        c.redis_prefix = prefix;
    }
}

async fn snapshot_version(redis: &mut RedisSpace, space: uuid::Uuid) -> Option<u64> {
    let key = format!("{}space:{space}", redis.prefix);
    redis.cmd(&[b"HGET", key.as_bytes(), b"~version"]).await
}

#[tokio::test]
async fn a_current_snapshot_is_loaded_from_redis_and_a_stale_one_from_postgres() {
    let schema = PgSchema::new().await;
    let mut redis = RedisSpace::new().await;
    let server = TestServer::start_with(with_stores(&schema, &redis)).await;
    let mut alice = server.client(Codec::Postcard, "alice").await;
    let ServerMsg::Joined { space, .. } = alice.join("gallery").await else {
        unreachable!()
    };
    let first = alice.spawn(1, [1.0, 0.0, 0.0]).await;
    let second = alice.spawn(2, [2.0, 0.0, 0.0]).await;
    alice
        .send(&ClientMsg::Move {
            id: second,
            transform: WireTransform::at([9.0, 9.0, 9.0]),
            request: None,
        })
        .await;
    alice.tick().await;
    drop(alice);
    let (dir, config) = server.stop().await;

    let pg_version: i64 = sqlx::query_scalar("SELECT version FROM spaces WHERE id = $1")
        .bind(space)
        .fetch_one(&schema.pool)
        .await
        .expect("the space row");
    assert_eq!(
        snapshot_version(&mut redis, space).await,
        Some(pg_version as u64),
        "redis matches postgres"
    );

    // Remove one object from the snapshot only: if the next load shows it missing, the
    // objects really came from Redis.
    let key = format!("{}space:{space}", redis.prefix);
    let removed: i64 = redis
        .cmd(&[b"HDEL", key.as_bytes(), first.as_bytes()])
        .await;
    assert_eq!(removed, 1);
    let server = TestServer::start_in(dir, config).await;
    let mut bob = server.client(Codec::Json, "bob").await;
    let ServerMsg::Joined { objects, .. } = bob.join("gallery").await else {
        unreachable!()
    };
    let ids: Vec<_> = objects.iter().map(|o| o.id).collect();
    assert_eq!(ids, vec![second], "loaded from the (doctored) snapshot");
    assert_eq!(objects[0].transform.pos, [9.0, 9.0, 9.0]);
    let stats = &server.server.edge().store.stats;
    assert_eq!(
        (
            stats.snapshot_hits.load(Ordering::Relaxed),
            stats.snapshot_misses.load(Ordering::Relaxed)
        ),
        (1, 0)
    );
    drop(bob);
    let (dir, config) = server.stop().await;

    // Now make the snapshot older than Postgres: the load falls back to Postgres, which
    // still has both objects, and re-warms the snapshot.
    redis
        .cmd::<i64>(&[b"HSET", key.as_bytes(), b"~version", b"0"])
        .await;
    let server = TestServer::start_in(dir, config).await;
    let mut carol = server.client(Codec::Postcard, "carol").await;
    let ServerMsg::Joined { objects, .. } = carol.join("gallery").await else {
        unreachable!()
    };
    let mut ids: Vec<_> = objects.iter().map(|o| o.id).collect();
    ids.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(ids, expected, "loaded from postgres");
    let stats = &server.server.edge().store.stats;
    assert_eq!(
        (
            stats.snapshot_hits.load(Ordering::Relaxed),
            stats.snapshot_misses.load(Ordering::Relaxed)
        ),
        (0, 1)
    );
    assert_eq!(
        snapshot_version(&mut redis, space).await,
        Some(pg_version as u64),
        "re-warmed"
    );
    let fields: i64 = redis.cmd(&[b"HLEN", key.as_bytes()]).await;
    assert_eq!(
        fields, 4,
        "both objects, the version and the writer's epoch (clustered on PostgreSQL) are back in the snapshot"
    );
    server.stop().await;
}

#[tokio::test]
async fn presence_is_published_with_an_expiry() {
    let schema = PgSchema::new().await;
    let mut redis = RedisSpace::new().await;
    let server = TestServer::start_with(with_stores(&schema, &redis)).await;
    let mut alice = server.client(Codec::Postcard, "alice").await;
    let mut bob = server.client(Codec::Postcard, "bob").await;
    let ServerMsg::Joined { space, .. } = alice.join("plaza").await else {
        unreachable!()
    };
    bob.join("plaza").await;
    let key = format!("{}presence:{space}", redis.prefix);
    let (alice_id, bob_id) = (alice.user.to_string(), bob.user.to_string());
    let mut both = vec![alice_id.clone(), bob_id.clone()];
    both.sort();
    let mut members: Vec<String> = Vec::new();
    for _ in 0..100 {
        members = redis.cmd(&[b"HKEYS", key.as_bytes()]).await;
        members.sort();
        if members == both {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(members, both, "both are present");
    let ttl: i64 = redis.cmd(&[b"TTL", key.as_bytes()]).await;
    assert!(
        (1..=30).contains(&ttl),
        "presence expires unless refreshed (ttl {ttl})"
    );

    bob.send(&ClientMsg::Leave).await;
    let names: Vec<String> = {
        let mut names = Vec::new();
        for _ in 0..100 {
            names = redis.cmd(&[b"HVALS", key.as_bytes()]).await;
            if names.len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        names
    };
    assert_eq!(names, vec!["alice".to_string()]);
    alice.goodbye().await;
    bob.goodbye().await;
    eventually(
        Duration::from_secs(5),
        "the empty space's presence is gone",
        || {
            let key = key.clone();
            let mut conn = redis.conn.clone();
            async move {
                let exists: i64 = redis::cmd("EXISTS")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .expect("redis answers");
                exists == 0
            }
        },
    )
    .await;
    server.stop().await;
}
