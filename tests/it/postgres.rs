//! PostgreSQL as the durable store: the full schema, what a session writes, and a restart.

use plaza::config::SecretUrl;
use plaza_net::Codec;
use sqlx::Row;

use crate::services::PgSchema;
use crate::support::{TestServer, build_scene};

#[tokio::test]
async fn postgres_keeps_everything_and_records_sessions_events_and_audit() {
    let schema = PgSchema::new().await;
    let url = schema.url();
    let server =
        TestServer::start_with(|c| c.database_url = Some(SecretUrl::new(url.clone()))).await;
    let mut alice = server.client(Codec::Postcard, "alice").await;
    let scene = build_scene(&mut alice, "atrium", "stored in postgres").await;
    let (space, user) = (scene.space, scene.user);
    let secret = alice.guest_secret.clone();
    drop(alice);
    let (dir, config) = server.stop().await;

    let db = &schema.pool;
    let row = sqlx::query(
        "SELECT space_id, version, px, rw, props->>'label' AS label, owner_id FROM world_objects",
    )
    .fetch_all(db)
    .await
    .expect("reads objects");
    assert_eq!(row.len(), 1, "the despawned object is deleted");
    let row = &row[0];
    assert_eq!(row.get::<uuid::Uuid, _>("space_id"), space);
    assert_eq!(
        (
            row.get::<i64, _>("version"),
            row.get::<f32, _>("px"),
            row.get::<f32, _>("rw")
        ),
        (3, 4.0, 0.0)
    );
    assert_eq!(
        (
            row.get::<String, _>("label"),
            row.get::<uuid::Uuid, _>("owner_id")
        ),
        ("keep me".into(), user)
    );
    let version: i64 = sqlx::query_scalar("SELECT version FROM spaces WHERE id = $1")
        .bind(space)
        .fetch_one(db)
        .await
        .expect("a space");
    assert!(version >= 1, "flushes raise the space version");
    let chat: Vec<String> = sqlx::query_scalar("SELECT text FROM chat_messages")
        .fetch_all(db)
        .await
        .expect("chat");
    assert_eq!(chat, vec!["stored in postgres".to_string()]);
    let sessions = sqlx::query(
        "SELECT transport, client_addr::text AS addr, ended_at IS NOT NULL AS ended FROM sessions",
    )
    .fetch_all(db)
    .await
    .expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].get::<String, _>("transport"), "ws");
    assert!(
        sessions[0]
            .get::<String, _>("addr")
            .starts_with("127.0.0.1")
    );
    assert!(
        sessions[0].get::<bool, _>("ended"),
        "the session's end is recorded"
    );
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM events ORDER BY id")
        .fetch_all(db)
        .await
        .expect("events");
    assert_eq!(
        kinds,
        [
            "connect",
            "join",
            "spawn",
            "spawn",
            "despawn",
            "chat",
            "leave",
            "disconnect"
        ]
    );
    let audited = |action: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM audit_log WHERE table_name = 'world_objects' AND action = $1",
        )
        .bind(action)
        .fetch_one(db)
    };
    let (created, removed) = (
        audited("INSERT").await.expect("audit"),
        audited("DELETE").await.expect("audit"),
    );
    // The despawned object reaches the store only if a flush fell between its spawn and
    // its despawn (pending writes collapse by key), so it is audited twice or not at all.
    assert!(
        (created, removed) == (2, 1) || (created, removed) == (1, 0),
        "each stored object is audited when created and when removed: {created} creations, {removed} removals"
    );
    assert_eq!(
        audited("UPDATE").await.expect("audit"),
        0,
        "moves are not audited"
    );
    sqlx::query("SELECT refresh_analytics()")
        .execute(db)
        .await
        .expect("the analytics views refresh");
    let used: i64 = sqlx::query_scalar("SELECT objects FROM most_used_models WHERE model = 'cube'")
        .fetch_one(db)
        .await
        .expect("a view row");
    assert_eq!(used, 1);

    let server = TestServer::start_in(dir, config).await;
    let mut again = server.client_again(Codec::Json, "alice", &secret).await;
    assert_eq!(again.user, user, "the same guest is the same user");
    scene.assert_restored(&again.join("atrium").await);
    server.stop().await;
}

#[test]
fn plaza_migrate_applies_the_schema() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let schema = runtime.block_on(PgSchema::new());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_plaza"))
        .arg("migrate")
        .env("PLAZA_DATABASE_URL", schema.url())
        .output()
        .expect("the plaza binary runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tables: Vec<String> = runtime.block_on(
        sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = $1 AND table_type = 'BASE TABLE' AND table_name NOT LIKE '\\_%' ORDER BY 1",
        )
        .bind(&schema.name)
        .fetch_all(&schema.pool),
    )
    .expect("lists tables");
    assert_eq!(
        tables,
        [
            "audit_log",
            "auth_tokens",
            "chat_messages",
            "cluster_nodes",
            "dead_letters",
            "events",
            "media_assets",
            "screen_shares",
            "sessions",
            "space_members",
            "space_owners",
            "spaces",
            "uploaded_models",
            "users",
            "visitor_tracking",
            "world_objects"
        ]
    );
}

#[tokio::test]
async fn copy_and_unnest_write_the_same_objects() {
    use std::sync::Arc;

    use plaza::config::PgUpsert;
    use plaza::store::PostgresStore;
    use plaza_systems::Rows;
    use plaza_systems::{ObjectRecord, ObjectState, Transform};

    let schema = PgSchema::new().await;
    let url = SecretUrl::new(schema.url());
    let open = |upsert| {
        let config = plaza::Config {
            pg_upsert: upsert,
            ..plaza::Config::default()
        };
        let url = url.clone();
        async move { PostgresStore::open(&url, &config).await.expect("opens") }
    };
    let (copy, unnest) = (open(PgUpsert::Copy).await, open(PgUpsert::Unnest).await);
    let owner = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO users (id, name) VALUES ($1, 'o')")
        .bind(owner)
        .execute(&schema.pool)
        .await
        .expect("a user");
    let space = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO spaces (id, name) VALUES ($1, 'copytest')")
        .bind(space)
        .execute(&schema.pool)
        .await
        .expect("a space");
    let objects = |version: u64| -> Vec<ObjectRecord> {
        (0..3u128)
            .map(|n| ObjectRecord {
                space,
                state: ObjectState {
                    id: uuid::Uuid::from_u128(n + 1),
                    index: 0,
                    model: Arc::from(format!("model-{n}")),
                    transform: Transform {
                        translation: glam::Vec3::new(n as f32, -1.5, 1e-3),
                        rotation: glam::Quat::from_rotation_y(0.5),
                        scale: glam::Vec3::splat(2.0),
                    },
                    props: Arc::from(format!(r#"{{"n":{n},"s":"ü \"q\""}}"#)),
                    owner,
                    version,
                },
            })
            .collect()
    };
    // COPY inserts, UNNEST updates; then COPY updates, and an older version changes nothing.
    for (store, version) in [(&copy, 1), (&unnest, 2), (&copy, 3), (&unnest, 2)] {
        let batch = Rows {
            objects: objects(version),
            ..Rows::default()
        };
        store.write(&batch, 10_000, None).await.expect("writes");
    }
    let mut stored = copy.space_objects(space).await.expect("reads");
    stored.sort_by_key(|o| o.id);
    let expected: Vec<ObjectState> = objects(3).into_iter().map(|r| r.state).collect();
    assert_eq!(stored.len(), 3);
    for (got, want) in stored.iter().zip(&expected) {
        assert_eq!(
            (got.id, &got.model, got.transform, got.owner, got.version),
            (want.id, &want.model, want.transform, want.owner, 3)
        );
        let (got, want): (serde_json::Value, serde_json::Value) = (
            serde_json::from_str(&got.props).expect("json"),
            serde_json::from_str(&want.props).expect("json"),
        );
        assert_eq!(got, want);
    }
}
