//! Bad input gets its error code, never a panic, and never disturbs other clients; repeated
//! abuse closes only the abuser's connection.

use plaza_net::{ClientMsg, Codec, ErrorCode, PROTOCOL_VERSION, Props, ServerMsg, WireTransform};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::support::{Client, TestServer, flood_until_slow};

/// The bystander still gets chat from a third client and answers pings.
async fn bystander_still_served(server: &TestServer, bystander: &mut Client) {
    let mut other = server
        .client(Codec::Json, &format!("other-{}", Uuid::new_v4()))
        .await;
    other.join("lobby").await;
    other
        .send(&ClientMsg::Chat {
            text: "still here?".into(),
            request: None,
        })
        .await;
    bystander
        .recv_until(|msg| {
            matches!(msg, ServerMsg::Chat(c) if c.text == "still here?").then_some(())
        })
        .await;
    bystander.tick().await;
}

#[tokio::test]
async fn each_bad_input_gets_its_error_code() {
    let server = TestServer::start_with(|c| {
        c.max_frame_bytes = 4096;
        c.max_props_bytes = 3000;
    })
    .await;
    let mut bystander = server.client(Codec::Postcard, "bystander").await;
    bystander.join("lobby").await;

    let mut bin = server.client(Codec::Postcard, "binary-bad").await;
    let mut json = server.client(Codec::Json, "json-bad").await;

    // Not allowed before join.
    bin.spawn_raw_before_join().await;
    bin.expect_error(ErrorCode::NotJoined).await;
    json.send(&ClientMsg::Chat {
        text: "hello?".into(),
        request: None,
    })
    .await;
    json.expect_error(ErrorCode::NotJoined).await;
    bin.send(&ClientMsg::Pose {
        transform: WireTransform::IDENTITY,
    })
    .await;
    bin.expect_error(ErrorCode::NotJoined).await;

    // Malformed frames and unknown types.
    bin.send_raw(Message::Binary(vec![0xff, 0xff, 0xff, 0xff].into()))
        .await;
    bin.expect_error(ErrorCode::BadMessage).await;
    json.send_raw(Message::Text("{not json".into())).await;
    json.expect_error(ErrorCode::BadMessage).await;
    json.send_raw(Message::Text(r#"{"type":"teleport","to":[0,0,0]}"#.into()))
        .await;
    json.expect_error(ErrorCode::BadMessage).await;
    json.send_raw(Message::Text(r#"{"protocol":1}"#.into()))
        .await;
    json.expect_error(ErrorCode::BadMessage).await;
    // A frame of the other kind than the connection's codec.
    json.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    json.expect_error(ErrorCode::BadMessage).await;

    // Oversized frame (over max_frame_bytes, under the hard limit).
    bin.send_raw(Message::Binary(vec![0u8; 5000].into())).await;
    let message = bin.expect_error(ErrorCode::TooLarge).await;
    assert!(message.contains("4096"), "{message}");

    bin.join("lobby").await;
    json.join("lobby").await;

    // Non-finite floats: NaN in postcard, an f32 overflow in JSON.
    let mut nan = WireTransform::IDENTITY;
    nan.pos[0] = f32::NAN;
    bin.send(&ClientMsg::Pose { transform: nan }).await;
    bin.expect_error(ErrorCode::BadMessage).await;
    json.send_raw(Message::Text(
        r#"{"type":"spawn","ref":1,"model":"cube","transform":{"pos":[1e39,0,0],"rot":[0,0,0,1],"scale":[1,1,1]},"props":{}}"#.into(),
    ))
    .await;
    json.expect_error(ErrorCode::BadMessage).await;

    // Props: not an object, too large.
    json.send_raw(Message::Text(
        r#"{"type":"spawn","ref":2,"model":"cube","transform":{"pos":[0,0,0],"rot":[0,0,0,1],"scale":[1,1,1]},"props":[1,2]}"#.into(),
    ))
    .await;
    json.expect_error(ErrorCode::BadMessage).await;
    let big =
        Props::from_json(&format!(r#"{{"blob":"{}"}}"#, "x".repeat(3500))).expect("an object");
    let id = bin.spawn(3, [0.0; 3]).await;
    bin.send(&ClientMsg::SetProps {
        id,
        props: big,
        request: None,
    })
    .await;
    bin.expect_error(ErrorCode::TooLarge).await;

    // Unknown objects.
    bin.send(&ClientMsg::Move {
        id: Uuid::new_v4(),
        transform: WireTransform::IDENTITY,
        request: None,
    })
    .await;
    bin.expect_error(ErrorCode::NotFound).await;
    json.send(&ClientMsg::Despawn {
        id: Uuid::new_v4(),
        request: None,
    })
    .await;
    json.expect_error(ErrorCode::NotFound).await;

    // A second hello.
    json.send(&ClientMsg::Hello {
        secret: None,
        protocol: PROTOCOL_VERSION,
        name: "again".into(),
        token: None,
        visitor: None,
        versions: vec![],
        codec: None,
        resume: None,
    })
    .await;
    json.expect_error(ErrorCode::BadMessage).await;

    // Oversized chat.
    json.send(&ClientMsg::Chat {
        text: "x".repeat(1001),
        request: None,
    })
    .await;
    json.expect_error(ErrorCode::TooLarge).await;

    // Both bad clients still work, and so does everyone else.
    bin.tick().await;
    json.tick().await;
    bystander_still_served(&server, &mut bystander).await;
    server.stop().await;
}

#[tokio::test]
async fn handshake_errors_close_the_connection() {
    let server = TestServer::start_with(|c| c.handshake_timeout_ms = 300).await;
    let mut bystander = server.client(Codec::Postcard, "bystander").await;
    bystander.join("lobby").await;

    let mut wrong = Client::connect(server.addr(), Codec::Json).await;
    wrong
        .send(&ClientMsg::Hello {
            secret: None,
            protocol: 99,
            name: "future".into(),
            token: None,
            visitor: None,
            versions: vec![],
            codec: None,
            resume: None,
        })
        .await;
    wrong.expect_error(ErrorCode::ProtocolMismatch).await;
    assert!(wrong.expect_close().await.is_some(), "closed with a reason");

    let mut rude = Client::connect(server.addr(), Codec::Postcard).await;
    rude.send(&ClientMsg::Join {
        space: "lobby".into(),
        request: None,
    })
    .await;
    let message = rude.expect_error(ErrorCode::BadMessage).await;
    assert!(message.contains("hello"), "{message}");
    rude.expect_close().await;

    let mut silent = Client::connect(server.addr(), Codec::Postcard).await;
    let message = silent.expect_error(ErrorCode::BadMessage).await;
    assert!(message.contains("no hello"), "{message}");
    silent.expect_close().await;

    let mut nameless = Client::connect(server.addr(), Codec::Json).await;
    nameless
        .send(&ClientMsg::Hello {
            secret: None,
            protocol: PROTOCOL_VERSION,
            name: "\u{7}".into(),
            token: None,
            visitor: None,
            versions: vec![],
            codec: None,
            resume: None,
        })
        .await;
    nameless.expect_error(ErrorCode::BadMessage).await;

    bystander_still_served(&server, &mut bystander).await;
    server.stop().await;
}

#[tokio::test]
async fn repeated_abuse_closes_only_that_connection() {
    let server = TestServer::start_with(|c| c.max_strikes = 5).await;
    let mut bystander = server.client(Codec::Postcard, "bystander").await;
    bystander.join("lobby").await;

    let mut abuser = server.client(Codec::Postcard, "abuser").await;
    for _ in 0..10 {
        abuser.send_raw(Message::Binary(vec![0xee; 8].into())).await;
    }
    let frame = abuser
        .expect_close()
        .await
        .expect("a close frame with a reason");
    assert_eq!(frame.code, 1008);
    assert!(frame.reason.contains("refused"), "{}", frame.reason);

    // World-level refusals count too.
    let mut prober = server.client(Codec::Json, "prober").await;
    prober.join("lobby").await;
    for _ in 0..10 {
        prober
            .send(&ClientMsg::Move {
                id: Uuid::new_v4(),
                transform: WireTransform::IDENTITY,
                request: None,
            })
            .await;
    }
    let frame = prober
        .expect_close()
        .await
        .expect("a close frame with a reason");
    assert!(frame.reason.contains("refused"), "{}", frame.reason);

    bystander_still_served(&server, &mut bystander).await;
    server.stop().await;
}

/// One strike policy: refusals at the edge (garbage frames) and in the world (moves of
/// unknown objects) count against the same `max_strikes`, so an abuser mixing the two is
/// closed after `max_strikes` refusals in all, not after that many of each.
#[tokio::test]
async fn edge_and_world_refusals_count_together() {
    let server = TestServer::start_with(|c| c.max_strikes = 5).await;
    /// `edge` garbage frames, then `world` moves of objects that do not exist.
    async fn refuse(client: &mut Client, edge: usize, world: usize) {
        for _ in 0..edge {
            client.send_raw(Message::Binary(vec![0xee; 8].into())).await;
            client.expect_error(ErrorCode::BadMessage).await;
        }
        for _ in 0..world {
            let unknown = ClientMsg::Move {
                id: Uuid::new_v4(),
                transform: WireTransform::IDENTITY,
                request: None,
            };
            client.send(&unknown).await;
        }
    }

    let mut within = server.client(Codec::Postcard, "within").await;
    within.join("lobby").await;
    refuse(&mut within, 2, 3).await;
    for _ in 0..3 {
        within.expect_error(ErrorCode::NotFound).await;
    }
    within.send(&ClientMsg::Ping { t: 1.0 }).await;
    within
        .recv_until(|msg| matches!(msg, ServerMsg::Pong { .. }).then_some(()))
        .await;

    let mut mixer = server.client(Codec::Postcard, "mixer").await;
    mixer.join("lobby").await;
    refuse(&mut mixer, 3, 3).await;
    let frame = mixer
        .expect_close()
        .await
        .expect("a close frame with a reason");
    assert_eq!(frame.code, 1008);
    assert!(
        frame.reason.contains("more than 5 refused"),
        "{}",
        frame.reason
    );
    server.stop().await;
}

#[tokio::test]
async fn a_flooding_client_is_rate_limited() {
    let server = TestServer::start_with(|c| {
        c.client_messages_per_sec = 5;
        c.client_message_burst = 5;
        c.max_strikes = 1000;
    })
    .await;
    let mut flooder = server.client(Codec::Postcard, "flooder").await;
    for n in 0..20 {
        flooder.send(&ClientMsg::Ping { t: f64::from(n) }).await;
    }
    flooder.expect_error(ErrorCode::RateLimited).await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_read_is_disconnected_and_others_keep_playing() {
    let server = TestServer::start_with(|c| {
        c.outbound_queue_frames = 16;
        c.client_messages_per_sec = 100_000;
        c.client_message_burst = 100_000;
        c.message_rates.spawn = plaza::config::Rate::new(100_000.0, 100_000);
    })
    .await;
    let mut stalled = Client::connect_small_buffer(server.addr(), Codec::Postcard).await;
    stalled.join("lobby").await;
    let mut builder = server.client(Codec::Postcard, "builder").await;
    builder.join("lobby").await;

    // Deltas of ~35 KB each: a few fill the stalled client's socket, then its 16-frame queue.
    let slow = flood_until_slow(&server, &mut builder, 200).await;
    assert_eq!(
        slow, 1,
        "exactly the stalled client was disconnected as too slow"
    );
    let frame = stalled
        .expect_close()
        .await
        .expect("a close frame with a reason");
    assert!(frame.reason.contains("too slow"), "{}", frame.reason);
    builder.tick().await;
    server.stop().await;
}

impl Client {
    async fn spawn_raw_before_join(&mut self) {
        self.send(&ClientMsg::Spawn {
            client_ref: 1,
            model: "cube".into(),
            transform: WireTransform::IDENTITY,
            props: Default::default(),
        })
        .await;
    }
}

/// A WebSocket frame over the hard limit (four times `max_frame_bytes`) is not read: the
/// client gets `too_large` and the close code 1009, as documented (it was 1008 "client
/// closed the connection").
#[tokio::test]
async fn a_frame_over_the_hard_limit_closes_with_1009() {
    let server = TestServer::start_with(|c| {
        c.max_frame_bytes = 1024;
        c.max_props_bytes = 512;
    })
    .await;
    let mut huge = server.client(Codec::Postcard, "huge").await;
    huge.send_raw(Message::Binary(vec![0u8; 4 * 1024 + 1].into()))
        .await;
    huge.expect_error(ErrorCode::TooLarge).await;
    let closed = huge.expect_close().await.expect("a close frame");
    assert_eq!(closed.code, 1009, "{}", closed.reason);
    server.stop().await;
}

/// `pong.t` is exactly `ping.t`, bit for bit, for any finite number sent as JSON.
#[tokio::test]
async fn pong_echoes_ping_exactly() {
    let server = TestServer::start_with(|c| {
        c.client_messages_per_sec = 10_000;
        c.client_message_burst = 10_000;
    })
    .await;
    let mut client = server.client(Codec::Json, "echo").await;
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut sent = Vec::new();
    while sent.len() < 2_000 {
        // xorshift: random bit patterns cover every exponent, where parsing is hardest.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let t = f64::from_bits(state);
        if t.is_finite() {
            sent.push(t);
        }
    }
    // Known hard cases: the smallest subnormal, the largest subnormal, f64::MAX.
    sent.extend([
        0.1,
        1e23,
        5e-324,
        f64::from_bits(0x000f_ffff_ffff_ffff),
        f64::MAX,
        -0.0,
    ]);
    // In rounds well inside the outbound queue, so that no pong is dropped.
    for round in sent.chunks(200) {
        for &t in round {
            client.send(&ClientMsg::Ping { t }).await;
        }
        for &t in round {
            let echoed = client
                .recv_until(|m| match m {
                    ServerMsg::Pong { t, .. } => Some(*t),
                    _ => None,
                })
                .await;
            assert_eq!(
                echoed.to_bits(),
                t.to_bits(),
                "ping {t:e} came back as {echoed:e}"
            );
        }
    }
    server.stop().await;
}

/// A postcard frame holding a whole message and then more bytes is refused: one frame,
/// one message.
#[tokio::test]
async fn postcard_frames_with_trailing_bytes_are_refused() {
    let server = TestServer::start().await;
    let mut client = server.client(Codec::Postcard, "trailing").await;
    let mut frame = Codec::Postcard
        .encode_client(&ClientMsg::Ping { t: 1.0 })
        .expect("encodes");
    frame.push(0);
    client.send_raw(Message::Binary(frame.into())).await;
    let message = client.expect_error(ErrorCode::BadMessage).await;
    assert!(message.contains("after the end"), "{message}");
    client.tick().await;
    server.stop().await;
}
