//! The product features against PostgreSQL (the other tests use SQLite): accounts and
//! login tokens, a private space with an invitation, chat pages, screen shares, uploads,
//! visitor tracking and the event log, all checked in the tables.

use plaza::config::SecretUrl;
use plaza_net::{ClientMsg, Codec, ErrorCode, ServerMsg, ShareKind};
use serde_json::json;
use sqlx::Row;

use crate::services::PgSchema;
use crate::support::{Client, TestServer, WAIT, eventually, http, http_json, register};

#[tokio::test]
async fn the_product_works_on_postgres() {
    let schema = PgSchema::new().await;
    let url = schema.url();
    let server =
        TestServer::start_with(|c| c.database_url = Some(SecretUrl::new(url.clone()))).await;
    let addr = server.addr();
    let db = &schema.pool;

    // Accounts: register, log in, hello with the token; the guest name is protected.
    let token = register(addr, "erin", "a long enough password").await;
    let (status, login) = http_json(
        addr,
        "POST",
        "/api/login",
        None,
        Some(json!({"name": "erin", "password": "a long enough password"})),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let mut erin = Client::connect(addr, Codec::Json).await;
    let visitor = "visitor-erin-0001";
    erin.say(&ClientMsg::Hello {
        secret: None,
        protocol: plaza_net::PROTOCOL_VERSION,
        name: String::new(),
        token: Some(token.clone()),
        visitor: Some(visitor.into()),
        versions: vec![],
        codec: None,
        resume: None,
    })
    .await;
    let mut guest = Client::connect(addr, Codec::Json).await;
    guest.send(&ClientMsg::hello("erin")).await;
    guest.expect_error(ErrorCode::Unauthorized).await;
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE name = 'erin' AND NOT is_guest")
            .fetch_one(db)
            .await
            .expect("erin is registered");
    assert!(hash.starts_with("$argon2id$"));
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_tokens")
        .fetch_one(db)
        .await
        .expect("tokens");
    assert_eq!(
        tokens, 2,
        "one per registration and login, stored as hashes"
    );

    // A private space; frank gets in after an invitation.
    let (status, space) = http_json(
        addr,
        "POST",
        "/api/spaces",
        Some(&token),
        Some(json!({"name": "studio", "private": true})),
    )
    .await;
    assert_eq!(status, 201, "{space}");
    let space_id = space["id"].as_str().expect("id").to_string();
    let mut frank = Client::hello_quic(&server, "frank").await;
    frank
        .send(&ClientMsg::Join {
            space: "studio".into(),
            request: None,
        })
        .await;
    frank.expect_error(ErrorCode::Forbidden).await;
    let members = format!("/api/spaces/{space_id}/members");
    assert_eq!(
        http_json(
            addr,
            "POST",
            &members,
            Some(&token),
            Some(json!({"user": "frank", "role": "admin"}))
        )
        .await
        .0,
        200
    );
    erin.join("studio").await;
    erin.join("foyer").await;
    erin.join("studio").await;
    frank.join("studio").await;

    // Chat, a share with signaling, and an upload.
    for n in 0..3 {
        erin.send(&ClientMsg::Chat {
            text: format!("pg line {n}"),
            request: None,
        })
        .await;
    }
    erin.send(&ClientMsg::ScreenShareStart {
        kind: ShareKind::Tab,
        request: None,
    })
    .await;
    frank
        .recv_until(|m| matches!(m, ServerMsg::ScreenShare { active: true, .. }).then_some(()))
        .await;
    erin.send(&ClientMsg::Signal {
        to: frank.user,
        data: "{\"type\":\"offer\"}".into(),
        request: None,
    })
    .await;
    frank
        .recv_until(|m| matches!(m, ServerMsg::Signal { .. }).then_some(()))
        .await;
    erin.send(&ClientMsg::ScreenShareStop).await;
    let glb = plaza::uploads::media::sample_glb();
    let (status, body) = http(
        addr,
        "POST",
        "/api/models?name=tri",
        Some(&erin.token),
        Some("model/gltf-binary"),
        &glb,
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let model: serde_json::Value = serde_json::from_slice(&body).expect("json");
    // Both listings' SQL, on PostgreSQL: hers, and the (private) space's by name.
    let (status, mine) = http_json(addr, "GET", "/api/models", Some(&erin.token), None).await;
    assert_eq!(
        (status, &mine["models"][0]["id"]),
        (200, &model["id"]),
        "{mine}"
    );
    let used = format!("/api/models?space={space_id}");
    let (status, used) = http_json(addr, "GET", &used, Some(&token), None).await;
    assert_eq!(status, 200, "{used}");
    assert!(used["models"].is_array(), "{used}");

    let chat = format!("/api/spaces/{space_id}/chat?limit=2");
    assert_eq!(
        http_json(addr, "GET", &chat, None, None).await.0,
        404,
        "a private space's chat is not public"
    );
    eventually(WAIT, "chat pages come from postgres", || async {
        let (_, page) = http_json(addr, "GET", &chat, Some(&token), None).await;
        let texts: Vec<_> = page["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|m| m["text"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        texts == ["pg line 2", "pg line 1"] && page["next_before"].is_string()
    })
    .await;
    let (_, first) = http_json(addr, "GET", &chat, Some(&token), None).await;
    let next = format!(
        "{chat}&before={}",
        first["next_before"].as_str().expect("a cursor")
    );
    let (_, second) = http_json(addr, "GET", &next, Some(&token), None).await;
    assert_eq!(second["messages"][0]["text"], "pg line 0");

    drop(erin);
    eventually(
        WAIT,
        "shares, visits and events are in postgres",
        || async {
            let share =
                sqlx::query("SELECT kind, ended_at IS NOT NULL AS ended FROM screen_shares")
                    .fetch_all(db)
                    .await
                    .unwrap_or_default();
            let visits: Option<i32> = sqlx::query_scalar(
                "SELECT visits FROM visitor_tracking WHERE visitor_id = $1 AND space_id = $2::uuid",
            )
            .bind(visitor)
            .bind(&space_id)
            .fetch_optional(db)
            .await
            .ok()
            .flatten();
            let kinds: Vec<String> = sqlx::query_scalar("SELECT DISTINCT kind FROM events")
                .fetch_all(db)
                .await
                .unwrap_or_default();
            share.len() == 1
                && share[0].get::<String, _>("kind") == "tab"
                && share[0].get::<bool, _>("ended")
                && visits == Some(2)
                && ["share_start", "share_stop", "upload", "join", "chat"]
                    .iter()
                    .all(|k| kinds.iter().any(|x| x == k))
        },
    )
    .await;
    let meta: String = sqlx::query_scalar("SELECT metadata::text FROM uploaded_models")
        .fetch_one(db)
        .await
        .expect("a model row");
    let meta: serde_json::Value = serde_json::from_str(&meta).expect("json");
    assert_eq!(meta["meshes"], 1);
    server.stop().await;
}
