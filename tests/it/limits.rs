//! Rate limits: per session and kind of message, per user for chat, per client address
//! for connections and HTTP. A flooding client is refused with `rate_limited`, then
//! disconnected; the others in its space carry on.

use std::time::{Duration, Instant};

use plaza::config::Rate;
use plaza_net::{ClientMsg, Codec, ErrorCode, Received, ServerMsg};

use crate::support::{Client, TestServer, http, http_json};

#[tokio::test]
async fn a_chat_flooder_is_limited_then_disconnected_and_the_others_are_unaffected() {
    let server = TestServer::start_with(|c| {
        c.message_rates.chat = Rate::new(2.0, 5);
        c.max_strikes = 20;
    })
    .await;
    let mut flooder = Client::hello(server.addr(), Codec::Json, "flooder").await;
    let mut calm = Client::hello_quic(&server, "calm").await;
    flooder.join("square").await;
    calm.join("square").await;

    for n in 0..200 {
        flooder
            .send(&ClientMsg::Chat {
                text: format!("spam {n}"),
                request: None,
            })
            .await;
    }
    let mut limited = 0;
    let closed = loop {
        match flooder.next().await {
            Received::Msg(ServerMsg::Error {
                code: ErrorCode::RateLimited,
                message,
                ..
            }) => {
                assert!(message.contains("chat"), "{message}");
                limited += 1;
            }
            Received::Closed(frame) => break frame,
            _ => {}
        }
    };
    assert!(
        limited >= 20,
        "refused with rate_limited first ({limited} times)"
    );
    assert!(
        format!("{closed:?}").contains("refused"),
        "then closed for abuse: {closed:?}"
    );

    // The calm client heard at most the flooder's burst, and still talks at once.
    let started = Instant::now();
    calm.send(&ClientMsg::Chat {
        text: "still fine".into(),
        request: None,
    })
    .await;
    let mut spam_heard = 0;
    calm.recv_until(|m| match m {
        ServerMsg::Chat(c) if c.text.starts_with("spam") => {
            spam_heard += 1;
            None
        }
        ServerMsg::Chat(c) if c.text == "still fine" => Some(()),
        _ => None,
    })
    .await;
    assert!(spam_heard <= 6, "only the burst got through: {spam_heard}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no backlog for others"
    );
    server.stop().await;
}

#[tokio::test]
async fn each_kind_of_message_has_its_own_allowance() {
    let server = TestServer::start_with(|c| c.message_rates.spawn = Rate::new(1.0, 3)).await;
    let mut builder = Client::hello(server.addr(), Codec::Postcard, "builder").await;
    builder.join("site").await;
    for n in 0..5 {
        builder
            .send(&ClientMsg::Spawn {
                client_ref: n,
                model: "cube".into(),
                transform: Default::default(),
                props: Default::default(),
            })
            .await;
    }
    let message = builder.expect_error(ErrorCode::RateLimited).await;
    assert!(message.contains("spawn"), "{message}");
    // Chat has its own bucket: it still goes through.
    builder
        .send(&ClientMsg::Chat {
            text: "spawns paused".into(),
            request: None,
        })
        .await;
    builder
        .recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "spawns paused").then_some(()))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn addresses_are_limited_for_http_and_new_connections() {
    let server = TestServer::start_with(|c| {
        c.http_requests_per_addr = Rate::new(5.0, 5);
        c.connections_per_addr = Rate::new(0.5, 3);
    })
    .await;
    let addr = server.addr();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(http(addr, "GET", "/health", None, None, &[]).await.0);
    }
    assert!(statuses[..5].iter().all(|&s| s == 200), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, body) = http_json(addr, "GET", "/api/statistics", None, None).await;
    assert_eq!(status, 200, "allowed again after a pause: {body}");
    assert!(body["rate_limited"].as_u64() >= Some(1));

    // Three connections are allowed at once from one address; the fourth is refused over
    // WebSocket (429) and QUIC alike.
    let _a = Client::hello(addr, Codec::Json, "a").await;
    let _b = Client::hello(addr, Codec::Json, "b").await;
    let _c = Client::hello_quic(&server, "c").await;
    let ws = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await;
    let refused = format!("{:?}", ws.expect_err("the fourth connection is refused"));
    assert!(refused.contains("429"), "{refused}");
    let quic = plaza_net::Client::quic(
        server.server.quic_addr().expect("QUIC is on"),
        server.server.edge().cert_sha256,
    )
    .await;
    assert!(quic.is_err(), "a QUIC handshake over the limit is refused");
    server.stop().await;
}

#[tokio::test]
async fn a_full_space_queues_joiners_tells_them_their_place_and_refuses_past_its_line() {
    let server = TestServer::start_with(|c| {
        c.max_people_per_space = 2;
        c.join_queue_per_space = 1;
    })
    .await;
    let mut alice = Client::hello(server.addr(), Codec::Json, "alice").await;
    let mut dave = Client::hello(server.addr(), Codec::Json, "dave").await;
    dave.join("stage").await;
    let mut bob = Client::hello_quic(&server, "bob").await;
    let mut carol = Client::hello(server.addr(), Codec::Postcard, "carol").await;
    alice.join("stage").await;
    bob.join("foyer").await;
    bob.send(&ClientMsg::Join {
        space: "stage".into(),
        request: Some(4),
    })
    .await;
    let place = bob
        .recv_until(|m| match m {
            ServerMsg::Queued { space, position } => Some((space.clone(), *position)),
            ServerMsg::Joined { name, .. } if name == "stage" => panic!("entered a full space"),
            _ => None,
        })
        .await;
    assert_eq!(place, ("stage".to_string(), 1));
    carol
        .send(&ClientMsg::Join {
            space: "stage".into(),
            request: Some(9),
        })
        .await;
    let refusal = carol
        .recv_until(|m| match m {
            ServerMsg::Error {
                code,
                message,
                request,
            } => Some((*code, message.clone(), *request)),
            _ => None,
        })
        .await;
    assert_eq!((refusal.0, refusal.2), (ErrorCode::Full, Some(9)));
    assert!(refusal.1.contains("full"), "says why: {}", refusal.1);

    // Bob waits in the foyer: he still hears it.
    carol.join("foyer").await;
    carol
        .send(&ClientMsg::Chat {
            text: "hi bob".into(),
            request: None,
        })
        .await;
    bob.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "hi bob").then_some(()))
        .await;

    // Alice leaves the stage: bob is let in.
    alice.send(&ClientMsg::Leave).await;
    let joined = bob
        .recv_until(|m| match m {
            ServerMsg::Joined { name, users, .. } => Some((name.clone(), users.len())),
            _ => None,
        })
        .await;
    assert_eq!(joined, ("stage".to_string(), 2), "dave and bob");
    server.stop().await;
}
