//! Nothing a flush holds can stop persistence: rows a store refuses as data are isolated
//! and dead-lettered while everything else is written, and a space is created by one path
//! whoever asks for it first, so a name race cannot break the world's foreign keys.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use plaza::Config;
use plaza::clock::now_ms;
use plaza::config::SecretUrl;
use plaza::store::writer::{self, WriterConfig};
use plaza::store::{Durable, NewSpace, Store};
use plaza::telemetry::WriterStats;
use plaza_net::Codec;
use plaza_systems::{ChatLine, ObjectRecord, ObjectState, Rows, Transform};
use serde_json::json;
use uuid::Uuid;

use crate::services::PgSchema;
use crate::support::{TestServer, WAIT, eventually, http_get, http_json, register};

fn line(space: Uuid, user: Uuid, text: &str) -> ChatLine {
    ChatLine {
        id: Uuid::now_v7(),
        space,
        from: user,
        name: Arc::from("poisoner"),
        text: Arc::from(text),
        at_ms: now_ms(),
    }
}

fn object(space: Uuid, owner: Uuid, x: f32) -> ObjectRecord {
    ObjectRecord {
        space,
        state: ObjectState {
            id: Uuid::new_v4(),
            index: 0,
            model: Arc::from("cube"),
            transform: Transform::from_translation(glam::Vec3::new(x, 0.0, 0.0)),
            props: Arc::from("{}"),
            owner,
            version: 1,
        },
    }
}

/// Rows of `table` in the store, and the dead letters as (table, key).
async fn counts(store: &Durable, space: Uuid) -> (i64, i64, Vec<(String, String)>) {
    match store {
        Durable::Sqlite(s) => {
            let pool = s.pool();
            let chat: i64 =
                sqlx::query_scalar("SELECT count(*) FROM chat_messages WHERE space_id = ?1")
                    .bind(space.to_string())
                    .fetch_one(pool)
                    .await
                    .expect("chat");
            let objects: i64 =
                sqlx::query_scalar("SELECT count(*) FROM world_objects WHERE space_id = ?1")
                    .bind(space.to_string())
                    .fetch_one(pool)
                    .await
                    .expect("objects");
            let dead = sqlx::query_as("SELECT table_name, row_key FROM dead_letters ORDER BY id")
                .fetch_all(pool)
                .await
                .expect("dead letters");
            (chat, objects, dead)
        }
        Durable::Postgres(p) => {
            let pool = p.pool();
            let chat: i64 =
                sqlx::query_scalar("SELECT count(*) FROM chat_messages WHERE space_id = $1")
                    .bind(space)
                    .fetch_one(pool)
                    .await
                    .expect("chat");
            let objects: i64 =
                sqlx::query_scalar("SELECT count(*) FROM world_objects WHERE space_id = $1")
                    .bind(space)
                    .fetch_one(pool)
                    .await
                    .expect("objects");
            let dead = sqlx::query_as("SELECT table_name, row_key FROM dead_letters ORDER BY id")
                .fetch_all(pool)
                .await
                .expect("dead letters");
            (chat, objects, dead)
        }
    }
}

/// One flush holding 200 good chat lines and objects plus rows the store refuses: an
/// object in a space that does not exist (both stores), and a chat line holding NUL
/// (PostgreSQL refuses it; SQLite keeps it). The good rows are written, the bad ones are
/// dead-lettered, later flushes go on, and shutdown loses nothing.
async fn refused_rows_do_not_block_the_rest(config: Config) {
    let store = Store::open(&config).await.expect("the store opens");
    let now = now_ms();
    let user = store
        .durable
        .ensure_user(Uuid::new_v4(), "poisoner", now)
        .await
        .expect("a user");
    let space = store
        .durable
        .ensure_space(&NewSpace::public("poisoned", now))
        .await
        .expect("a space")
        .0
        .id;
    let stats = Arc::new(WriterStats::default());
    let writer_config = WriterConfig {
        flush_interval: Duration::from_millis(20),
        max_batch_rows: 64,
        shutdown_timeout: Duration::from_secs(10),
        write_timeout: Duration::from_secs(10),
        parallel_writes: 4,
        fences: None,
    };
    let (sender, task) = writer::spawn(store.clone(), writer_config, stats.clone());

    let orphan = object(Uuid::new_v4(), user, 9.0);
    let nul = line(space, user, "a\0b");
    let mut chat: Vec<ChatLine> = (0..100)
        .map(|n| line(space, user, &format!("good {n}")))
        .collect();
    chat.insert(37, nul.clone());
    chat.extend((100..200).map(|n| line(space, user, &format!("good {n}"))));
    let mut objects: Vec<ObjectRecord> = (0..150).map(|n| object(space, user, n as f32)).collect();
    objects.insert(80, orphan.clone());
    sender.submit(
        Rows {
            chat,
            objects,
            ..Rows::default()
        }
        .into(),
    );
    let postgres = matches!(store.durable, Durable::Postgres(_));
    let refused = if postgres { 2 } else { 1 };
    let deadline = tokio::time::Instant::now() + WAIT;
    while stats.dead_lettered.load(Ordering::Relaxed) < refused {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refused rows were not dead-lettered (dead letters: {}, failures: {})",
            stats.dead_lettered.load(Ordering::Relaxed),
            stats.failures.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Later writes are not held up by what was refused.
    sender.submit(
        Rows {
            chat: vec![line(space, user, "after")],
            ..Rows::default()
        }
        .into(),
    );
    drop(sender);
    let report = task.await.expect("the writer ends");
    assert_eq!(report.unwritten_rows, 0, "nothing is left unwritten");
    assert_eq!(
        stats.failures.load(Ordering::Relaxed),
        0,
        "refused data is not a store failure to retry"
    );
    let (chat, objects, dead) = counts(&store.durable, space).await;
    assert_eq!(
        chat,
        if postgres { 201 } else { 202 },
        "every good chat line"
    );
    assert_eq!(objects, 150, "every good object");
    let mut expected = vec![("world_objects".to_string(), orphan.state.id.to_string())];
    if postgres {
        expected.insert(0, ("chat_messages".to_string(), nul.id.to_string()));
    }
    let mut dead = dead;
    dead.sort();
    expected.sort();
    assert_eq!(dead, expected);
    assert_eq!(stats.dead_lettered.load(Ordering::Relaxed), refused);
    store.close().await;
}

#[tokio::test]
async fn sqlite_writer_dead_letters_refused_rows_and_writes_the_rest() {
    let dir = tempfile::tempdir().expect("a directory");
    let config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    refused_rows_do_not_block_the_rest(config).await;
}

#[tokio::test]
async fn postgres_writer_dead_letters_refused_rows_and_writes_the_rest() {
    let schema = PgSchema::new().await;
    let config = Config {
        database_url: Some(SecretUrl::new(schema.url())),
        ..Config::default()
    };
    refused_rows_do_not_block_the_rest(config).await;
}

/// A guest joins a new space; right after `joined`, a registered user asks for the same
/// name over HTTP. The space exists already (the world's join created it in the store),
/// so the request gets 409, and the guest's objects are written under the right space.
async fn a_name_race_cannot_break_persistence(server: TestServer, rows: impl AsyncFn(Uuid) -> i64) {
    let token = register(server.addr(), "racer", "correct horse battery").await;
    let mut guest = server.client(Codec::Json, "early").await;
    let joined = guest.join("contested").await;
    let plaza_net::ServerMsg::Joined { space, .. } = joined else {
        panic!("joined, got {joined:?}");
    };
    let (status, body) = http_json(
        server.addr(),
        "POST",
        "/api/spaces",
        Some(&token),
        Some(json!({"name": "contested", "private": true})),
    )
    .await;
    assert_eq!(
        status, 409,
        "the name is taken by the world's space: {body}"
    );
    guest.spawn(1, [1.0, 0.0, 0.0]).await;
    eventually(WAIT, "the guest's object is stored", || {
        let rows = &rows;
        async move { rows(space).await == 1 }
    })
    .await;
    let (status, health) = http_get(server.addr(), "/health").await;
    assert_eq!(
        (status, &health["store"]["state"]),
        (200, &json!("ok")),
        "{health}"
    );
    assert_eq!(health["store"]["dead_letters"], 0);
    server.stop().await;
}

#[tokio::test]
async fn sqlite_space_name_race_keeps_persisting() {
    let server = TestServer::start().await;
    let path = server.config.sqlite_file();
    a_name_race_cannot_break_persistence(server, async |space| {
        let url = format!("sqlite://{}", path.display());
        let pool = sqlx::SqlitePool::connect(&url).await.expect("opens");
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM world_objects WHERE space_id = ?1")
            .bind(space.to_string())
            .fetch_one(&pool)
            .await
            .expect("counts");
        pool.close().await;
        n
    })
    .await;
}

#[tokio::test]
async fn postgres_space_name_race_keeps_persisting() {
    let schema = PgSchema::new().await;
    let url = schema.url();
    let server = TestServer::start_with(|c| c.database_url = Some(SecretUrl::new(url))).await;
    let pool = schema.pool.clone();
    a_name_race_cannot_break_persistence(server, async move |space| {
        sqlx::query_scalar("SELECT count(*) FROM world_objects WHERE space_id = $1")
            .bind(space)
            .fetch_one(&pool)
            .await
            .expect("counts")
    })
    .await;
}

/// A session (or share) that ends "before" it started, as a wall clock stepped back makes
/// it, is stored as ending when it started rather than breaking the CHECK and being
/// dead-lettered; an open session stays open.
async fn an_end_before_the_start_is_clamped(config: Config) {
    let store = Store::open(&config).await.expect("the store opens");
    let user = store
        .durable
        .ensure_user(Uuid::new_v4(), "time-traveller", 0)
        .await
        .expect("a user");
    let session = |ended_ms| plaza_systems::SessionRecord {
        id: Uuid::new_v4(),
        user,
        meta: plaza_systems::SessionMeta {
            transport: plaza_systems::Transport::WebSocket,
            ..Default::default()
        },
        started_ms: 2_000_000,
        ended_ms,
    };
    let (stepped_back, open) = (session(Some(1_999_000)), session(None));
    let batch = plaza_systems::Rows {
        sessions: vec![stepped_back.clone(), open.clone()],
        ..Default::default()
    };
    store
        .durable
        .write(&batch, 100, now_ms(), None)
        .await
        .expect("both sessions are kept");
    let ended = |id: Uuid| {
        let durable = store.durable.clone();
        async move {
            match &durable {
                Durable::Sqlite(s) => sqlx::query_scalar::<_, Option<i64>>(
                    "SELECT ended_at FROM sessions WHERE id = ?1",
                )
                .bind(id.to_string())
                .fetch_one(s.pool())
                .await
                .expect("a row"),
                Durable::Postgres(p) => sqlx::query_scalar::<_, Option<i64>>(
                    "SELECT (extract(epoch FROM ended_at) * 1000)::int8 FROM sessions WHERE id = $1",
                )
                .bind(id)
                .fetch_one(p.pool())
                .await
                .expect("a row"),
            }
        }
    };
    assert_eq!(
        ended(stepped_back.id).await,
        Some(2_000_000),
        "clamped to the start"
    );
    assert_eq!(ended(open.id).await, None, "still open");
    store.close().await;
}

#[tokio::test]
async fn sqlite_clamps_an_end_before_the_start() {
    let dir = tempfile::tempdir().expect("a directory");
    an_end_before_the_start_is_clamped(Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    })
    .await;
}

#[tokio::test]
async fn postgres_clamps_an_end_before_the_start() {
    let schema = PgSchema::new().await;
    an_end_before_the_start_is_clamped(Config {
        database_url: Some(SecretUrl::new(schema.url())),
        ..Config::default()
    })
    .await;
}
