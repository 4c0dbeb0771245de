//! Accounts and access: registration and login with argon2, tokens in `hello` and over
//! HTTP, guest names that belong to registered users, object ownership, private spaces
//! with invitations, spaces and chat history over HTTP, and the admin API.

use std::time::Duration;

use plaza_net::{ClientMsg, Codec, ErrorCode, ServerMsg, WireTransform};
use serde_json::json;

use crate::support::{Client, TestServer, WAIT, eventually, http_json, register};

#[tokio::test]
async fn registered_users_log_in_with_tokens_and_guests_cannot_take_their_names() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let token = register(addr, "alice", "correct horse battery").await;

    let (status, me) = http_json(addr, "GET", "/api/me", Some(&token), None).await;
    assert_eq!(
        (status, me["name"].as_str(), me["registered"].as_bool()),
        (200, Some("alice"), Some(true))
    );

    // The name is hers now: a guest hello with it is refused, over WebSocket and QUIC.
    let mut guest = Client::connect(addr, Codec::Json).await;
    guest.send(&ClientMsg::hello("alice")).await;
    let message = guest.expect_error(ErrorCode::Unauthorized).await;
    assert!(message.contains("registered"), "{message}");
    let mut guest = Client::connect_quic(&server).await;
    guest.send(&ClientMsg::hello("alice")).await;
    guest.expect_error(ErrorCode::Unauthorized).await;

    // With her token, she is herself on every transport, whatever name the hello carries.
    let mut quic = Client::connect_quic(&server).await;
    assert_eq!(
        quic.say(&ClientMsg::hello_with_token(&token)).await,
        ("alice".into(), true)
    );
    let mut ws = Client::connect(addr, Codec::Json).await;
    ws.say(&ClientMsg::hello_with_token(&token)).await;
    assert_eq!(ws.user, quic.user);
    let mut wt = Client::connect_wt(&server, Codec::Postcard).await;
    wt.say(&ClientMsg::hello_with_token(&token)).await;
    assert_eq!(wt.user, quic.user);

    // Wrong credentials and bad tokens are refused; duplicates conflict; short passwords
    // are refused with a reason.
    let login = |password: &'static str| {
        http_json(
            addr,
            "POST",
            "/api/login",
            None,
            Some(json!({"name": "alice", "password": password})),
        )
    };
    assert_eq!(login("wrong password!").await.0, 401);
    let (status, unknown) = http_json(
        addr,
        "POST",
        "/api/login",
        None,
        Some(json!({"name": "nobody", "password": "wrong password!"})),
    )
    .await;
    assert_eq!(
        (status, unknown["error"].as_str()),
        (401, Some("wrong name or password")),
        "unknown names answer like wrong passwords"
    );
    let (status, body) = login("correct horse battery").await;
    assert_eq!(status, 200, "{body}");
    let second = body["token"].as_str().expect("a token").to_string();
    assert_ne!(second, token, "every login gets its own token");
    let (status, _) = http_json(
        addr,
        "POST",
        "/api/users",
        None,
        Some(json!({"name": "alice", "password": "another password"})),
    )
    .await;
    assert_eq!(status, 409);
    let (status, body) = http_json(
        addr,
        "POST",
        "/api/users",
        None,
        Some(json!({"name": "bob", "password": "short"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let mut bad = Client::connect(addr, Codec::Json).await;
    bad.send(&ClientMsg::hello_with_token("0".repeat(64))).await;
    bad.expect_error(ErrorCode::Unauthorized).await;
    assert_eq!(
        http_json(addr, "GET", "/api/me", Some("nonsense"), None)
            .await
            .0,
        401
    );

    // Logging out revokes that token only.
    let (status, _) = http_json(addr, "POST", "/api/logout", Some(&second), None).await;
    assert_eq!(status, 204);
    assert_eq!(
        http_json(addr, "GET", "/api/me", Some(&second), None)
            .await
            .0,
        401
    );
    assert_eq!(
        http_json(addr, "GET", "/api/me", Some(&token), None)
            .await
            .0,
        200
    );

    // A guest's session token works over HTTP while the session lasts, and not after.
    let guest = Client::hello(addr, Codec::Json, "bob").await;
    let (status, me) = http_json(addr, "GET", "/api/me", Some(&guest.token), None).await;
    assert_eq!((status, me["registered"].as_bool()), (200, Some(false)));
    let session_token = guest.token.clone();
    drop(guest);
    eventually(WAIT, "the session token dies with its session", || async {
        http_json(addr, "GET", "/api/me", Some(&session_token), None)
            .await
            .0
            == 401
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn only_owners_and_space_admins_change_objects_and_private_spaces_need_invitations() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let alice_token = register(addr, "alice", "correct horse battery").await;
    let mut alice = Client::connect(addr, Codec::Json).await;
    alice.say(&ClientMsg::hello_with_token(&alice_token)).await;
    let mut bob = Client::hello_quic(&server, "bob").await;

    alice.join("commons").await;
    bob.join("commons").await;
    let lamp = alice.spawn(1, [0.0, 0.0, 0.0]).await;
    let moved = WireTransform::at([5.0, 0.0, 0.0]);
    bob.send(&ClientMsg::Move {
        id: lamp,
        transform: moved,
        request: None,
    })
    .await;
    let message = bob.expect_error(ErrorCode::Forbidden).await;
    assert!(message.contains("owner"), "{message}");
    bob.send(&ClientMsg::Despawn {
        id: lamp,
        request: None,
    })
    .await;
    bob.expect_error(ErrorCode::Forbidden).await;
    let bobs = bob.spawn(2, [1.0, 0.0, 0.0]).await;
    bob.send(&ClientMsg::Move {
        id: bobs,
        transform: moved,
        request: None,
    })
    .await;

    // A private space: listed to nobody, closed to bob until he is invited.
    let (status, vault) = http_json(
        addr,
        "POST",
        "/api/spaces",
        Some(&alice_token),
        Some(json!({"name": "vault", "private": true, "description": "alice's"})),
    )
    .await;
    assert_eq!(status, 201, "{vault}");
    let vault_id = vault["id"].as_str().expect("an id").to_string();
    let (status, _) = http_json(
        addr,
        "POST",
        "/api/spaces",
        Some(&bob.token),
        Some(json!({"name": "bobs"})),
    )
    .await;
    assert_eq!(
        status, 403,
        "guests create lasting spaces by joining, not over HTTP"
    );
    let (_, listed) = http_json(addr, "GET", "/api/spaces", None, None).await;
    let names: Vec<&str> = listed["spaces"]
        .as_array()
        .expect("spaces")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(
        names.contains(&"commons") && !names.contains(&"vault"),
        "{names:?}"
    );
    let path = format!("/api/spaces/{vault_id}");
    assert_eq!(http_json(addr, "GET", &path, None, None).await.0, 404);
    assert_eq!(
        http_json(addr, "GET", &path, Some(&bob.token), None)
            .await
            .0,
        404
    );
    assert_eq!(
        http_json(addr, "GET", &path, Some(&alice_token), None)
            .await
            .0,
        200
    );

    bob.send(&ClientMsg::Join {
        space: "vault".into(),
        request: None,
    })
    .await;
    let message = bob.expect_error(ErrorCode::Forbidden).await;
    assert!(message.contains("private"), "{message}");
    alice.join("vault").await;

    let members = format!("/api/spaces/{vault_id}/members");
    let (status, _) = http_json(
        addr,
        "POST",
        &members,
        Some(&bob.token),
        Some(json!({"user": "bob"})),
    )
    .await;
    assert_eq!(
        status, 404,
        "bob cannot even see the space, let alone invite himself"
    );
    let (status, body) = http_json(
        addr,
        "POST",
        &members,
        Some(&alice_token),
        Some(json!({"user": "bob"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    bob.join("vault").await;
    let chair = bob.spawn(3, [2.0, 0.0, 0.0]).await;
    // The owner administers the space: she may move bob's chair there.
    alice
        .send(&ClientMsg::Move {
            id: chair,
            transform: moved,
            request: None,
        })
        .await;
    alice
        .recv_until(|m| match m {
            ServerMsg::Delta { objects, .. } => objects
                .iter()
                .any(|o| o.id == chair && o.transform.pos[0] == 5.0)
                .then_some(()),
            ServerMsg::Error { code, message, .. } => panic!("refused: {code:?} {message}"),
            _ => None,
        })
        .await;

    // Withdrawing the invitation takes bob out at once.
    let (status, _) = http_json(
        addr,
        "DELETE",
        &format!("{members}/bob"),
        Some(&alice_token),
        None,
    )
    .await;
    assert_eq!(status, 204);
    bob.recv_until(|m| matches!(m, ServerMsg::Left { .. }).then_some(()))
        .await;
    bob.send(&ClientMsg::Join {
        space: "vault".into(),
        request: None,
    })
    .await;
    bob.expect_error(ErrorCode::Forbidden).await;
    server.stop().await;
}

#[tokio::test]
async fn spaces_and_chat_history_are_served_over_http() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let mut carol = Client::hello(addr, Codec::Postcard, "carol").await;
    let ServerMsg::Joined { space, .. } = carol.join("chatty").await else {
        panic!("joined");
    };
    carol.spawn(1, [0.0, 0.0, 0.0]).await;
    for n in 1..=5 {
        carol
            .send(&ClientMsg::Chat {
                text: format!("line {n}"),
                request: None,
            })
            .await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    carol
        .send(&ClientMsg::Chat {
            text: "x".repeat(1001),
            request: None,
        })
        .await;
    carol.expect_error(ErrorCode::TooLarge).await;

    let path = format!("/api/spaces/{space}");
    eventually(
        WAIT,
        "the listing shows carol online and the object",
        || async {
            let (_, one) = http_json(addr, "GET", &path, None, None).await;
            one["people_online"] == 1 && one["objects"] == 1 && one["people"][0] == "carol"
        },
    )
    .await;
    let (_, listed) = http_json(addr, "GET", "/api/spaces", None, None).await;
    assert_eq!(listed["spaces"][0]["name"], "chatty");

    let chat = format!("/api/spaces/{space}/chat");
    eventually(WAIT, "all five lines are stored", || async {
        http_json(addr, "GET", &chat, None, None).await.1["messages"]
            .as_array()
            .is_some_and(|m| m.len() == 5)
    })
    .await;
    let mut texts = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..3 {
        let page_path = match &cursor {
            Some(before) => format!("{chat}?limit=2&before={before}"),
            None => format!("{chat}?limit=2"),
        };
        let (status, page) = http_json(addr, "GET", &page_path, None, None).await;
        assert_eq!(status, 200, "{page}");
        texts.extend(
            page["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .map(|m| m["text"].as_str().expect("text").to_string()),
        );
        cursor = page["next_before"].as_str().map(str::to_string);
    }
    assert_eq!(
        texts,
        ["line 5", "line 4", "line 3", "line 2", "line 1"],
        "newest first, no gaps or repeats"
    );
    assert!(cursor.is_none(), "the last page says so");

    let (_, all) = http_json(addr, "GET", &chat, None, None).await;
    let third_at = all["messages"][2]["at"]
        .as_str()
        .expect("a time")
        .to_string();
    let (_, older) = http_json(
        addr,
        "GET",
        &format!("{chat}?before={third_at}"),
        None,
        None,
    )
    .await;
    assert!(
        older["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .all(|m| m["at"].as_str() < Some(third_at.as_str()))
    );
    assert_eq!(
        http_json(addr, "GET", &format!("{chat}?before=yesterday"), None, None)
            .await
            .0,
        400
    );
    let unknown = format!("/api/spaces/{}/chat", uuid::Uuid::new_v4());
    assert_eq!(http_json(addr, "GET", &unknown, None, None).await.0, 404);
    // Not an id, so a name: one no space has.
    assert_eq!(
        http_json(addr, "GET", "/api/spaces/not-a-uuid", None, None)
            .await
            .0,
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn the_admin_api_lists_and_kicks_behind_its_token() {
    let closed = TestServer::start().await;
    assert_eq!(
        http_json(closed.addr(), "GET", "/api/admin/sessions", None, None)
            .await
            .0,
        404
    );
    closed.stop().await;

    let admin = "an admin token for tests";
    let server =
        TestServer::start_with(|c| c.admin_token = Some(plaza::config::Secret::new(admin))).await;
    let addr = server.addr();
    let mut dave = Client::hello_wt(&server, Codec::Json, "dave").await;
    dave.join("hall").await;
    assert_eq!(
        http_json(addr, "GET", "/api/admin/sessions", None, None)
            .await
            .0,
        401
    );
    assert_eq!(
        http_json(
            addr,
            "GET",
            "/api/admin/sessions",
            Some("an admin token for testz"),
            None
        )
        .await
        .0,
        401
    );
    assert_eq!(
        http_json(addr, "GET", "/api/admin/sessions", Some(&dave.token), None)
            .await
            .0,
        401
    );

    let session = dave.session.to_string();
    eventually(WAIT, "dave is listed in the hall", || async {
        let (_, list) = http_json(addr, "GET", "/api/admin/sessions", Some(admin), None).await;
        list["sessions"].as_array().is_some_and(|s| {
            s.iter().any(|s| {
                s["session"] == session.as_str()
                    && s["space_name"] == "hall"
                    && s["transport"] == "wt"
            })
        })
    })
    .await;
    let (status, spaces) = http_json(addr, "GET", "/api/admin/spaces", Some(admin), None).await;
    assert_eq!(
        (status, spaces["spaces"][0]["name"].as_str()),
        (200, Some("hall"))
    );
    let (_, stats) = http_json(addr, "GET", "/api/statistics", None, None).await;
    assert_eq!(stats["world"]["users_online"], 1);

    let kick = format!("/api/admin/sessions/{session}/kick");
    assert_eq!(
        http_json(addr, "POST", &kick, Some(admin), None).await.0,
        204
    );
    let closed = dave.expect_close().await;
    assert!(format!("{closed:?}").contains("kicked"), "{closed:?}");
    let unknown = format!("/api/admin/sessions/{}/kick", uuid::Uuid::new_v4());
    assert_eq!(
        http_json(addr, "POST", &unknown, Some(admin), None).await.0,
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn visitors_are_counted_per_space_from_a_cookie_or_hello() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let mut cookie = Client::connect_with_cookie(
        addr,
        Codec::Json,
        "theme=dark; plaza_visitor=cookie-visitor-01",
    )
    .await;
    cookie.say(&ClientMsg::hello("by-cookie")).await;
    for space in ["plaza", "park", "plaza"] {
        cookie.join(space).await;
    }
    let mut native = Client::connect_quic(&server).await;
    native
        .say(&ClientMsg::Hello {
            secret: None,
            protocol: plaza_net::PROTOCOL_VERSION,
            name: "by-hello".into(),
            token: None,
            visitor: Some("hello-visitor-01".into()),
            versions: vec![],
            codec: None,
            resume: None,
        })
        .await;
    native.join("plaza").await;
    let mut bad = Client::connect(addr, Codec::Json).await;
    bad.send(&ClientMsg::Hello {
        secret: None,
        protocol: plaza_net::PROTOCOL_VERSION,
        name: "x".into(),
        token: None,
        visitor: Some("short".into()),
        versions: vec![],
        codec: None,
        resume: None,
    })
    .await;
    bad.expect_error(ErrorCode::BadMessage).await;

    eventually(WAIT, "visits are stored per visitor and space", || async {
        let rows = crate::support::sqlite_rows(
            &server,
            "SELECT v.visitor_id, s.name, v.visits, v.last_seen_at >= v.first_seen_at
             FROM visitor_tracking v JOIN spaces s ON s.id = v.space_id ORDER BY 1, 2",
        )
        .await;
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(Option::unwrap_or_default).collect())
            .collect();
        rows == [
            ["cookie-visitor-01", "park", "1", "1"],
            ["cookie-visitor-01", "plaza", "2", "1"],
            ["hello-visitor-01", "plaza", "1", "1"],
        ]
    })
    .await;
    server.stop().await;
}
