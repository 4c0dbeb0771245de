//! Sessions across the nodes of a cluster: a client that follows `moved`, or comes back
//! through another node after a dropped connection, presents its resume token there, and
//! that node takes the session over from the one that held it (same id, one row, one
//! connect and one disconnect). The endpoint through which nodes hand sessions over is
//! closed to clients and bounded.

use plaza_net::{ClientMsg, Codec, ServerMsg};
use sqlx::Row;
use uuid::Uuid;

use crate::cluster::{ADMIN, moved_to, node_id, two_nodes};
use crate::services::PgSchema;
use crate::support::{Client, TestServer, WAIT, eventually, http, http_json};

const TAKE: &str = "/api/cluster/sessions/take";

/// Connects to `server` and says hello again as the guest `name` with its `secret` and
/// resume `token`: the new client and whether the welcome says `resumed`.
pub(crate) async fn come_back(
    server: &TestServer,
    token: &Option<String>,
    secret: &Option<String>,
    name: &str,
) -> (Client, bool) {
    let secret = secret.clone().expect("a guest secret");
    let hello = ClientMsg::hello_again(name, secret.clone()).resuming(token.clone());
    let mut again = Client::connect(server.addr(), Codec::Postcard).await;
    again.send(&hello).await;
    let resumed = match again.recv().await {
        ServerMsg::Welcome {
            session,
            user,
            resume,
            resumed,
            ..
        } => {
            (again.session, again.user, again.resume) = (session, user, resume);
            resumed
        }
        other => panic!("expected welcome, got {other:?}"),
    };
    again.guest_secret = Some(secret);
    (again, resumed)
}

/// The session ids listed by `server` alone.
async fn listed_on(server: &TestServer) -> Vec<Uuid> {
    let path = "/api/admin/sessions?scope=node";
    let (status, list) = http_json(server.addr(), "GET", path, Some(ADMIN), None).await;
    assert_eq!(status, 200, "{list}");
    list["sessions"]
        .as_array()
        .expect("a session list")
        .iter()
        .filter_map(|s| s["session"].as_str()?.parse().ok())
        .collect()
}

/// The `connect` and `disconnect` events of `session` in the store, and whether its row
/// is ended.
async fn recorded(schema: &PgSchema, session: Uuid) -> (i64, i64, Option<bool>) {
    let counts = sqlx::query(
        "SELECT count(*) FILTER (WHERE kind = 'connect') AS connects,
                count(*) FILTER (WHERE kind = 'disconnect') AS disconnects
         FROM events WHERE session_id = $1",
    )
    .bind(session)
    .fetch_one(&schema.pool)
    .await
    .expect("reads events");
    let ended = sqlx::query("SELECT ended_at IS NOT NULL AS ended FROM sessions WHERE id = $1")
        .bind(session)
        .fetch_optional(&schema.pool)
        .await
        .expect("reads sessions")
        .map(|row| row.get("ended"));
    (counts.get("connects"), counts.get("disconnects"), ended)
}

#[tokio::test]
async fn a_person_moved_by_a_hand_off_keeps_their_session_on_the_next_node() {
    let (schema, _prefix, a, b) = two_nodes().await;
    let b_node = node_id(&b);
    let mut alice = a.client(Codec::Postcard, "alice").await;
    assert!(
        alice
            .resume
            .as_deref()
            .is_some_and(|t| t.ends_with(&format!("@{}", node_id(&a)))),
        "a resume token names its node: {:?}",
        alice.resume
    );
    let ServerMsg::Joined { space, .. } = alice.join("hall").await else {
        unreachable!("join answers joined")
    };
    let session = alice.session;

    let path = format!("/api/admin/spaces/{space}/move");
    let body = serde_json::json!({ "to": &b_node });
    let (status, answer) = http_json(a.addr(), "POST", &path, Some(ADMIN), Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    moved_to(&mut alice, &b_node).await;
    // Her client says goodbye to A on its way: A holds the session for B anyway.
    let (token, secret) = (alice.resume.clone(), alice.guest_secret.clone());
    alice.goodbye().await;
    let (mut again, resumed) = come_back(&b, &token, &secret, "alice").await;
    assert_eq!(again.session, session, "B took the session over from A");
    assert!(!resumed, "in no space on B yet: the client joins again");
    assert!(matches!(again.join("hall").await, ServerMsg::Joined { .. }));

    assert!(listed_on(&b).await.contains(&session));
    eventually(WAIT, "A no longer lists the session", || async {
        !listed_on(&a).await.contains(&session)
    })
    .await;
    // One row and one connect, written by A; neither node records an end while it goes on.
    eventually(WAIT, "the session's start is stored", || async {
        recorded(&schema, session).await == (1, 0, Some(false))
    })
    .await;
    // A's writer flushes a few times meanwhile, and still nothing ends.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(recorded(&schema, session).await, (1, 0, Some(false)));

    // It ends once, on B.
    again.goodbye().await;
    eventually(WAIT, "the session's end is stored", || async {
        recorded(&schema, session).await == (1, 1, Some(true))
    })
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_client_that_comes_back_through_another_node_takes_its_session_from_the_first() {
    let (_schema, _prefix, a, b) = two_nodes().await;
    let mut alice = a.client(Codec::Postcard, "alice").await;
    alice.join("yard").await;
    let mut bob = a.client(Codec::Postcard, "bob").await;
    bob.join("yard").await;
    let session = alice.session;
    let alice_user = alice.user;

    // Alice's connection drops (no close frame); A holds her session for the grace
    // period. Her client comes back through B (a load balancer's choice).
    let (token, secret) = (alice.resume.clone(), alice.guest_secret.clone());
    drop(alice);
    let (mut back, resumed) = come_back(&b, &token, &secret, "alice").await;
    assert_eq!(back.session, session, "B took the session held on A");
    assert!(!resumed);
    assert!(
        back.resume
            .as_deref()
            .is_some_and(|t| t.ends_with(&format!("@{}", node_id(&b)))),
        "its next token names B"
    );
    // Bob, on A, sees her leave A's yard (she is on B now).
    bob.recv_until(|m| match m {
        ServerMsg::Delta { left, .. } if left.contains(&alice_user) => Some(()),
        _ => None,
    })
    .await;
    assert!(!listed_on(&a).await.contains(&session));
    assert!(listed_on(&b).await.contains(&session));
    // The yard is A's: joining it through B sends her back, and A takes the session back.
    back.send(&ClientMsg::Join {
        space: "yard".into(),
        request: None,
    })
    .await;
    moved_to(&mut back, &node_id(&a)).await;
    let (mut home, _) = come_back(&a, &back.resume, &back.guest_secret, "alice").await;
    assert_eq!(home.session, session, "A took it back from B");
    assert!(matches!(home.join("yard").await, ServerMsg::Joined { .. }));

    // The token was used: presented again, it is worth a new session.
    let (again, _) = come_back(&a, &token, &secret, "alice").await;
    assert_ne!(again.session, session, "a used token starts a new session");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn only_nodes_may_take_sessions_and_a_forged_token_takes_nothing() {
    let (schema, _prefix, a, b) = two_nodes().await;
    let a_node = node_id(&a);
    let alice = a.client(Codec::Postcard, "alice").await;
    let token = alice.resume.clone().expect("a resume token");
    let secret: String =
        sqlx::query_scalar("SELECT peer_secret FROM cluster_nodes WHERE node_id = $1")
            .bind(&a_node)
            .fetch_one(&schema.pool)
            .await
            .expect("A's row");
    assert_eq!(secret.len(), 64, "A announces a peer secret");
    let take = serde_json::json!({ "token": token, "user": alice.user });

    // Clients, and admins, cannot ask for a session.
    for bearer in [None, Some(ADMIN), Some("not-the-secret")] {
        let (status, answer) = http_json(a.addr(), "POST", TAKE, bearer, Some(take.clone())).await;
        assert_eq!(status, 401, "{bearer:?}: {answer}");
    }
    // With the secret: another user's session, or an unknown token, is not there.
    let mallory = serde_json::json!({ "token": token, "user": Uuid::new_v4() });
    let (status, _) = http_json(a.addr(), "POST", TAKE, Some(&secret), Some(mallory)).await;
    assert_eq!(status, 404);
    let unknown =
        serde_json::json!({ "token": format!("{}@{a_node}", "0".repeat(64)), "user": alice.user });
    let (status, _) = http_json(a.addr(), "POST", TAKE, Some(&secret), Some(unknown)).await;
    assert_eq!(status, 404);
    // Bounded: a long token, a large body, and bad JSON are refused before any lookup.
    let long = serde_json::json!({ "token": "x".repeat(300), "user": alice.user });
    let (status, _) = http_json(a.addr(), "POST", TAKE, Some(&secret), Some(long)).await;
    assert_eq!(status, 400);
    let big = vec![b' '; 100 * 1024];
    let (status, _) = http(
        a.addr(),
        "POST",
        TAKE,
        Some(&secret),
        Some("application/json"),
        &big,
    )
    .await;
    assert_eq!(status, 413);
    let (status, _) = http(
        a.addr(),
        "POST",
        TAKE,
        Some(&secret),
        Some("application/json"),
        b"{",
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        listed_on(&a).await.contains(&alice.session),
        "alice's session is still A's"
    );

    // Through B, a forged token naming A, one naming no node, and alice's token presented
    // by someone else each start a new session, and alice keeps hers.
    let forged = [
        format!("{}@{a_node}", "f".repeat(64)),
        format!("{}@nowhere:1", "f".repeat(64)),
        token.clone(),
    ];
    for (n, forged) in forged.into_iter().enumerate() {
        let mut mallory = Client::connect(b.addr(), Codec::Postcard).await;
        let hello = ClientMsg::hello(format!("mallory{n}")).resuming(Some(forged.clone()));
        mallory.send(&hello).await;
        match mallory.recv().await {
            ServerMsg::Welcome {
                session, resumed, ..
            } => {
                assert_ne!(session, alice.session, "{forged}");
                assert!(!resumed, "{forged}");
            }
            other => panic!("expected welcome for {forged}, got {other:?}"),
        }
    }
    assert!(
        listed_on(&a).await.contains(&alice.session),
        "alice's session is still A's"
    );
    a.stop().await;
    b.stop().await;
}
