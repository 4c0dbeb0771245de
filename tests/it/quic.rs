//! Native QUIC: the same protocol as WebSocket, people on different transports in one
//! space, the certificate hash endpoint, and misbehaving QUIC clients closed cleanly while
//! others keep playing.

use plaza_net::{ClientMsg, Codec, ErrorCode, PROTOCOL_VERSION, ServerMsg, WireTransform};
use uuid::Uuid;

use crate::support::{Client, TestServer, http_get};

/// The tick at which `msg` shows object `id` at `x`, reliably (in a delta) or as motion.
fn object_moved_to(msg: &ServerMsg, id: Uuid, x: f32) -> Option<u64> {
    match msg {
        ServerMsg::Delta { tick, objects, .. } => objects
            .iter()
            .any(|o| o.id == id && o.transform.pos[0] == x)
            .then_some(*tick),
        ServerMsg::Motion { tick, objects, .. } => objects
            .entries()
            .iter()
            .any(|o| o.id == id && o.transform.transform().pos[0] == x)
            .then_some(*tick),
        _ => None,
    }
}

#[tokio::test]
async fn the_spine_scenario_works_over_quic() {
    let server = TestServer::start().await;
    let mut alice = Client::hello_quic(&server, "alice").await;
    let mut bob = Client::hello_quic(&server, "bob").await;
    alice.join("lobby").await;
    let ServerMsg::Joined { users, .. } = bob.join("lobby").await else {
        unreachable!()
    };
    assert_eq!(users.len(), 2);

    let id = alice.spawn(1, [0.0; 3]).await;
    alice
        .send(&ClientMsg::Move {
            id,
            transform: WireTransform::at([5.0, 0.0, 0.0]),
            request: None,
        })
        .await;
    let read_by = alice.tick().await;
    let tick = bob.recv_until(|m| object_moved_to(m, id, 5.0)).await;
    assert!(
        tick <= read_by + 2,
        "seen at tick {tick}, read by tick {read_by}"
    );

    bob.send(&ClientMsg::Chat {
        text: "over quic".into(),
        request: None,
    })
    .await;
    for client in [&mut alice, &mut bob] {
        client
            .recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "over quic").then_some(()))
            .await;
    }
    let mut late = Client::hello_quic(&server, "late").await;
    let ServerMsg::Joined { objects, chat, .. } = late.join("lobby").await else {
        unreachable!()
    };
    assert_eq!(
        objects
            .iter()
            .map(|o| (o.id, o.transform.pos[0]))
            .collect::<Vec<_>>(),
        vec![(id, 5.0)]
    );
    assert_eq!(chat.len(), 1);
    drop((alice, bob, late));
    server.stop().await;
}

#[tokio::test]
async fn people_on_three_transports_share_one_space() {
    let server = TestServer::start().await;
    let mut quic = Client::hello_quic(&server, "native").await;
    let mut binary = server.client(Codec::Postcard, "ws-binary").await;
    let mut json = server.client(Codec::Json, "ws-json").await;
    for client in [&mut quic, &mut binary, &mut json] {
        client.join("mixed").await;
    }
    let from_quic = quic.spawn(1, [1.0, 0.0, 0.0]).await;
    let from_json = json.spawn(2, [2.0, 0.0, 0.0]).await;
    let mut expected = vec![from_quic, from_json];
    expected.sort();
    for client in [&mut quic, &mut binary, &mut json] {
        // Joining the space one is in again resends its state.
        let ServerMsg::Joined { objects, users, .. } = client.join("mixed").await else {
            unreachable!()
        };
        let mut seen: Vec<_> = objects.iter().map(|o| o.id).collect();
        seen.sort();
        assert_eq!(seen, expected, "everyone sees both objects");
        assert_eq!(users.len(), 3);
    }
    // Only the owner moves it; the others are refused (and see the owner's move).
    let to = WireTransform::at([9.0, 0.0, 0.0]);
    binary
        .send(&ClientMsg::Move {
            id: from_quic,
            transform: to,
            request: None,
        })
        .await;
    binary.expect_error(ErrorCode::Forbidden).await;
    quic.send(&ClientMsg::Move {
        id: from_quic,
        transform: to,
        request: None,
    })
    .await;
    binary
        .recv_until(|m| object_moved_to(m, from_quic, 9.0))
        .await;
    json.recv_until(|m| object_moved_to(m, from_quic, 9.0))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn the_certificate_hash_is_served_and_pinned() {
    let server = TestServer::start().await;
    let (status, body) = http_get(server.addr(), "/cert-hash").await;
    assert_eq!(status, 200);
    let hex: String = server
        .server
        .edge()
        .cert_sha256
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        (body["algorithm"].as_str(), body["value"].as_str()),
        (Some("sha-256"), Some(hex.as_str()))
    );
    let addr = server.server.quic_addr().expect("QUIC is enabled");
    let wrong = plaza_net::Client::quic(addr, [0; 32]).await;
    assert!(
        wrong.is_err(),
        "a client pinning another certificate does not connect"
    );
    server.stop().await;
}

#[tokio::test]
async fn misbehaving_quic_clients_are_closed_and_others_keep_playing() {
    let server = TestServer::start_with(|c| {
        c.max_frame_bytes = 4096;
        c.max_props_bytes = 2000;
        c.handshake_timeout_ms = 500;
    })
    .await;
    let mut bystander = server.client(Codec::Postcard, "bystander").await;
    bystander.join("lobby").await;

    // Oversized frame (under the hard limit): refused, and the connection goes on.
    let mut big = Client::hello_quic(&server, "big").await;
    big.net()
        .send_payload(&vec![0_u8; 5000])
        .await
        .expect("sent");
    big.expect_error(ErrorCode::TooLarge).await;
    big.tick().await;

    // Garbage payload.
    big.net()
        .send_payload(&[0xff, 0xff, 0xff])
        .await
        .expect("sent");
    big.expect_error(ErrorCode::BadMessage).await;

    // A length prefix far beyond the limit: the stream cannot be resynchronised, so the
    // connection ends.
    let mut liar = Client::hello_quic(&server, "liar").await;
    liar.net()
        .send_raw_bytes(&u32::MAX.to_be_bytes())
        .await
        .expect("sent");
    liar.expect_error(ErrorCode::TooLarge).await;
    let closed = liar.expect_close().await.expect("closed with a reason");
    assert_eq!(closed.code, 1009, "{}", closed.reason);

    // A truncated frame: the stream ends mid-frame.
    let mut truncated = Client::hello_quic(&server, "truncated").await;
    truncated
        .net()
        .send_raw_bytes(&[0, 0, 0, 100, 1, 2, 3])
        .await
        .expect("sent");
    truncated.net().finish().await.expect("finished");
    truncated.expect_close().await;

    // Opens a stream but never sends on it: the server never sees the stream (QUIC shows a
    // stream to the peer with its first data), so it closes the connection at the deadline.
    let mut mute = Client::connect_quic(&server).await;
    let closed = mute.expect_close().await.expect("closed with a reason");
    assert_eq!(closed.code, 4002, "{}", closed.reason);

    // Starts a frame but never completes a hello: an error, then closed at the deadline.
    let mut silent = Client::connect_quic(&server).await;
    silent.net().send_raw_bytes(&[0, 0]).await.expect("sent");
    let message = silent.expect_error(ErrorCode::BadMessage).await;
    assert!(message.contains("no hello"), "{message}");
    silent.expect_close().await;

    // Wrong protocol version.
    let mut old = Client::connect_quic(&server).await;
    old.send(&ClientMsg::Hello {
        secret: None,
        protocol: PROTOCOL_VERSION + 1,
        name: "old".into(),
        token: None,
        visitor: None,
        versions: vec![],
        codec: None,
        resume: None,
    })
    .await;
    old.expect_error(ErrorCode::ProtocolMismatch).await;

    // Too many streams.
    let mut greedy = Client::hello_quic(&server, "greedy").await;
    let connection = greedy
        .net()
        .quic_connection()
        .expect("a QUIC client")
        .clone();
    let (mut extra, _) = connection
        .open_bi()
        .await
        .expect("the transport allows one more stream");
    extra.write_all(b"hi").await.expect("written");
    let closed = greedy.expect_close().await.expect("closed with a reason");
    assert!(
        closed.reason.contains("too many streams"),
        "{}",
        closed.reason
    );

    // Everyone else is fine.
    bystander.tick().await;
    let mut other = Client::hello_quic(&server, "other").await;
    other.join("lobby").await;
    other
        .send(&ClientMsg::Chat {
            text: "all good".into(),
            request: None,
        })
        .await;
    bystander
        .recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "all good").then_some(()))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn poses_travel_as_datagrams_to_quic_and_in_deltas_to_websocket() {
    let server = TestServer::start().await;
    let mut walker = Client::hello_quic(&server, "walker").await;
    let mut native = Client::hello_quic(&server, "native-watcher").await;
    let mut web = server.client(Codec::Json, "web-watcher").await;
    for client in [&mut walker, &mut native, &mut web] {
        client.join("park").await;
    }
    let walker_id = walker.user;
    let pose = WireTransform::at([3.0, 0.0, 4.0]);
    // Datagrams are unreliable: resend until the QUIC watcher has the pose (loopback
    // rarely drops one).
    let mut seen = None;
    for _ in 0..20 {
        walker
            .net()
            .send_datagram(&ClientMsg::Pose { transform: pose })
            .await
            .expect("sent");
        native.send(&ClientMsg::Ping { t: 0.5 }).await;
        seen = native
            .recv_until(|m| match m {
                ServerMsg::Motion { avatars, .. } => Some(
                    avatars
                        .entries()
                        .iter()
                        .find(|a| a.user == walker_id)
                        .map(|a| a.transform.transform()),
                ),
                ServerMsg::Pong { t, .. } if *t == 0.5 => Some(None),
                _ => None,
            })
            .await;
        if seen.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    }
    assert_eq!(seen, Some(pose), "the pose arrived as an avatars datagram");
    // The walker stopped: its final pose also comes reliably, in a delta, so a lost last
    // datagram cannot leave it stale.
    let settled = native
        .recv_until(|m| match m {
            ServerMsg::Delta { avatars, .. } => avatars
                .entries()
                .iter()
                .find(|a| a.user == walker_id)
                .map(|a| a.transform.transform()),
            _ => None,
        })
        .await;
    assert_eq!(settled, pose, "the final pose is settled reliably");
    let in_delta = web
        .recv_until(|m| match m {
            ServerMsg::Delta { avatars, .. } => avatars
                .entries()
                .iter()
                .find(|a| a.user == walker_id)
                .map(|a| a.transform.transform()),
            _ => None,
        })
        .await;
    assert_eq!(in_delta, pose, "WebSocket clients get poses inside deltas");
    server.stop().await;
}

#[tokio::test]
async fn garbage_datagrams_close_only_their_connection() {
    let server = TestServer::start_with(|c| c.max_strikes = 5).await;
    let mut bystander = Client::hello_quic(&server, "bystander").await;
    bystander.join("lobby").await;
    let mut noisy = Client::hello_quic(&server, "noisy").await;
    for _ in 0..10 {
        // Once the server has closed the connection, sending fails: that is the point.
        if noisy
            .net()
            .send_raw_datagram(&[0xde, 0xad, 0xbe, 0xef])
            .is_err()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    noisy.expect_error(ErrorCode::BadMessage).await;
    let closed = noisy.expect_close().await.expect("closed with a reason");
    assert!(closed.reason.contains("refused"), "{}", closed.reason);
    bystander.tick().await;
    server.stop().await;
}

#[tokio::test]
async fn object_moves_travel_as_motion_datagrams_and_settle_reliably() {
    let server = TestServer::start().await;
    let mut mover = Client::hello_quic(&server, "mover").await;
    let mut native = Client::hello_quic(&server, "native-watcher").await;
    let mut web = server.client(Codec::Postcard, "web-watcher").await;
    for client in [&mut mover, &mut native, &mut web] {
        client.join("yard").await;
    }
    let id = mover.spawn(1, [0.0; 3]).await;
    // The new object itself arrives reliably, in full.
    native
        .recv_until(|m| match m {
            ServerMsg::Delta { objects, .. } => objects.iter().any(|o| o.id == id).then_some(()),
            _ => None,
        })
        .await;
    // Datagrams are unreliable: move again (a new position each time) until the QUIC
    // watcher has seen one as motion; each time, the final state then settles reliably.
    let mut via_motion = false;
    let mut x = 6.0;
    for _ in 0..10 {
        let to = WireTransform::at([x, 0.0, 0.0]);
        mover
            .send(&ClientMsg::Move {
                id,
                transform: to,
                request: None,
            })
            .await;
        let settled = native
            .recv_until(|m| match m {
                ServerMsg::Motion { objects, .. } => {
                    via_motion |= objects
                        .entries()
                        .iter()
                        .any(|o| o.id == id && o.transform.transform() == to);
                    None
                }
                ServerMsg::Delta { objects, .. } => objects
                    .iter()
                    .find(|o| o.id == id && o.transform == to)
                    .cloned(),
                _ => None,
            })
            .await;
        assert_eq!(
            settled.transform, to,
            "the final state is settled reliably, in full"
        );
        if via_motion {
            break;
        }
        x += 1.0;
    }
    assert!(via_motion, "moves come as motion datagrams");
    let full = web.recv_until(|m| object_moved_to(m, id, x)).await;
    assert!(
        full > 0,
        "WebSocket clients get the moved object in full in a delta"
    );
    server.stop().await;
}
