//! Deleting a space and temporary spaces, on PostgreSQL and Redis: the owner deletes a
//! space people are in and objects are being written to; everyone is told, the store
//! keeps nothing of it (and refuses no row on the way), its Redis keys go, and its name
//! makes a new space. A deletion the store cannot finish yet is answered 202 and completes
//! later, with loads of the space refused meanwhile.

use std::time::Duration;

use plaza::config::SecretUrl;
use plaza_net::{ClientMsg, Codec, ErrorCode, ServerMsg};
use serde_json::json;
use uuid::Uuid;

use crate::services::{PgSchema, RedisSpace, redis_url};
use crate::support::{Client, TestServer, WAIT, eventually, http_json, register};

async fn count(schema: &PgSchema, sql: &'static str, space: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(space)
        .fetch_one(&schema.pool)
        .await
        .expect("the count query runs")
}

/// Makes a temporary space owned by `token`'s user and returns its id.
async fn temporary_space(addr: std::net::SocketAddr, token: &str, name: &str) -> Uuid {
    let (status, made) = http_json(
        addr,
        "POST",
        "/api/spaces",
        Some(token),
        Some(json!({"name": name, "temporary": true})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["temporary"], true);
    made["id"].as_str().expect("an id").parse().expect("a uuid")
}

#[tokio::test]
async fn the_owner_deletes_a_busy_space_and_nothing_of_it_is_left() {
    let schema = PgSchema::new().await;
    let redis = RedisSpace::new().await;
    let (db, prefix) = (schema.url(), redis.prefix.clone());
    let server = TestServer::start_with(move |c| {
        c.database_url = Some(SecretUrl::new(db));
        c.redis_url = Some(SecretUrl::new(redis_url()));
        c.redis_prefix = prefix;
    })
    .await;
    let addr = server.addr();

    // A registered owner makes a temporary space: it is not in the public list.
    let token = register(addr, "olga", "a long enough password").await;
    let space = temporary_space(addr, &token, "doomed").await;
    let (_, list) = http_json(addr, "GET", "/api/spaces", None, None).await;
    let listed = |list: &serde_json::Value, name: &str| {
        list["spaces"]
            .as_array()
            .expect("spaces")
            .iter()
            .any(|s| s["name"] == name)
    };
    assert!(
        !listed(&list, "doomed"),
        "temporary spaces are not listed: {list}"
    );

    // Guests make temporary spaces over HTTP, never lasting ones.
    let mut gus = server.client(Codec::Postcard, "gus").await;
    let (status, body) = http_json(
        addr,
        "POST",
        "/api/spaces",
        Some(&gus.token),
        Some(json!({"name": "gus-lasting"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = http_json(
        addr,
        "POST",
        "/api/spaces",
        Some(&gus.token),
        Some(json!({"name": "gus-load-test", "temporary": true})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // People in it, objects and chat stored, more objects still on their way.
    let mut olga = Client::connect(addr, Codec::Postcard).await;
    olga.say(&ClientMsg::hello_with_token(token.clone())).await;
    olga.join("doomed").await;
    gus.join("doomed").await;
    for i in 0..40 {
        olga.spawn(i, [i as f32, 0.0, 0.0]).await;
    }
    olga.send(&ClientMsg::Chat {
        text: "last words".into(),
        request: None,
    })
    .await;
    eventually(
        WAIT,
        "the objects and the line are in PostgreSQL",
        || async {
            count(
                &schema,
                "SELECT count(*) FROM world_objects WHERE space_id = $1",
                space,
            )
            .await
                == 40
                && count(
                    &schema,
                    "SELECT count(*) FROM chat_messages WHERE space_id = $1",
                    space,
                )
                .await
                    == 1
        },
    )
    .await;
    let snapshot_key = format!("{}space:{space}", redis.prefix);
    let exists = || {
        let (mut conn, key) = (redis.conn.clone(), snapshot_key.clone());
        async move {
            redis::cmd("EXISTS")
                .arg(key)
                .query_async::<i64>(&mut conn)
                .await
                .expect("redis answers")
        }
    };
    eventually(WAIT, "the snapshot is in Redis", || async {
        exists().await == 1
    })
    .await;
    for i in 40..60 {
        olga.send(&ClientMsg::Spawn {
            model: "cube".into(),
            transform: plaza_net::WireTransform::at([i as f32, 1.0, 0.0]),
            props: Default::default(),
            client_ref: i,
        })
        .await;
    }

    // Only the owner (or a server admin) deletes it.
    let path = format!("/api/spaces/{space}");
    let (status, body) = http_json(addr, "DELETE", &path, Some(&gus.token), None).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = http_json(addr, "DELETE", &path, None, None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = http_json(addr, "DELETE", &path, Some(&token), None).await;
    assert_eq!(status, 204, "{body}");

    // Everyone in it was told and taken out.
    let message = gus.expect_error(ErrorCode::NotFound).await;
    assert!(message.contains("deleted"), "{message}");
    gus.recv_until(|m| matches!(m, ServerMsg::Left { space: s } if *s == space).then_some(()))
        .await;

    // The store keeps nothing of it, refused no row, and Redis lost its keys.
    for sql in [
        "SELECT count(*) FROM spaces WHERE id = $1",
        "SELECT count(*) FROM world_objects WHERE space_id = $1",
        "SELECT count(*) FROM chat_messages WHERE space_id = $1",
    ] {
        assert_eq!(count(&schema, sql, space).await, 0, "{sql}");
    }
    // Objects spawned just before the deletion are flushed (or dropped) by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count(
            &schema,
            "SELECT count(*) FROM world_objects WHERE space_id = $1",
            space
        )
        .await,
        0
    );
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&schema.pool)
        .await
        .expect("dead letters");
    assert_eq!(dead, 0, "no row of the deleted space was refused");
    assert_eq!(exists().await, 0, "the snapshot key is gone");
    let (status, _) = http_json(addr, "GET", &path, None, None).await;
    assert_eq!(status, 404);
    let (status, _) = http_json(addr, "DELETE", &path, Some(&token), None).await;
    assert_eq!(status, 404, "deleting twice finds nothing");

    // Its name makes a new, empty space.
    let ServerMsg::Joined {
        space: again,
        objects,
        ..
    } = gus.join("doomed").await
    else {
        unreachable!()
    };
    assert_ne!(again, space);
    assert!(objects.is_empty());
    // A space made by joining has no owner: only a server admin could delete it.
    let (status, body) = http_json(
        addr,
        "DELETE",
        &format!("/api/spaces/{again}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn a_deletion_the_store_cannot_finish_yet_is_accepted_and_completes_later() {
    let schema = PgSchema::new().await;
    let db = schema.url();
    let server = TestServer::start_with(move |c| {
        c.database_url = Some(SecretUrl::new(db));
        c.write_timeout_ms = 1_000;
    })
    .await;
    let addr = server.addr();
    let token = register(addr, "petra", "a long enough password").await;
    let space = temporary_space(addr, &token, "stuck-room").await;
    let mut petra = Client::connect(addr, Codec::Postcard).await;
    petra.say(&ClientMsg::hello_with_token(token.clone())).await;
    petra.join("stuck-room").await;
    petra.spawn(1, [1.0, 0.0, 0.0]).await;
    eventually(WAIT, "the object is stored", || async {
        count(
            &schema,
            "SELECT count(*) FROM world_objects WHERE space_id = $1",
            space,
        )
        .await
            == 1
    })
    .await;

    // Another transaction holds the space's row: reads go on, the writer's DELETE waits
    // (and times out, and is retried).
    let mut holder = schema.pool.begin().await.expect("a transaction");
    sqlx::query("SELECT id FROM spaces WHERE id = $1 FOR UPDATE")
        .bind(space)
        .execute(&mut *holder)
        .await
        .expect("the row is locked");
    let path = format!("/api/spaces/{space}");
    let (status, body) = http_json(addr, "DELETE", &path, Some(&token), None).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "deleting");
    let (status, body) = http_json(addr, "DELETE", &path, Some(&token), None).await;
    assert_eq!(status, 202, "a second request joins the first: {body}");

    // Meanwhile the space cannot come back by a join.
    let mut late = server.client(Codec::Postcard, "late").await;
    late.send(&ClientMsg::Join {
        space: "stuck-room".into(),
        request: None,
    })
    .await;
    let message = late.expect_error(ErrorCode::Unavailable).await;
    assert!(message.contains("being deleted"), "{message}");

    holder.rollback().await.expect("the lock is released");
    eventually(WAIT, "the deletion reached PostgreSQL", || async {
        count(&schema, "SELECT count(*) FROM spaces WHERE id = $1", space).await == 0
    })
    .await;
    assert_eq!(
        count(
            &schema,
            "SELECT count(*) FROM world_objects WHERE space_id = $1",
            space
        )
        .await,
        0
    );
    let ServerMsg::Joined { space: again, .. } = late.join("stuck-room").await else {
        unreachable!()
    };
    assert_ne!(again, space, "the name makes a new space");
}

#[tokio::test]
async fn temporary_spaces_per_user_are_bounded() {
    let server = TestServer::start_with(|c| c.max_temporary_spaces_per_user = 2).await;
    let addr = server.addr();
    let guest = server.client(Codec::Postcard, "spawner").await;
    let first = temporary_space(addr, &guest.token, "temp-1").await;
    temporary_space(addr, &guest.token, "temp-2").await;
    let (status, body) = http_json(
        addr,
        "POST",
        "/api/spaces",
        Some(&guest.token),
        Some(json!({"name": "temp-3", "temporary": true})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("delete some")),
        "{body}"
    );
    let path = format!("/api/spaces/{first}");
    let (status, body) = http_json(addr, "DELETE", &path, Some(&guest.token), None).await;
    assert_eq!(status, 204, "{body}");
    temporary_space(addr, &guest.token, "temp-3").await;
    server.stop().await;
}
