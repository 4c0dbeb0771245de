//! Protocol versions and negotiation: version-1 clients keep working beside version-2 ones,
//! a JSON hello is understood without `?codec=json`, refusals carry the request's `ref`,
//! and compact motion reaches a binary client coded against what it was sent before.

use futures_util::{SinkExt, StreamExt};
use plaza_net::{ClientMsg, Codec, ErrorCode, ServerMsg, WireTransform, v1};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::support::{Client, TestServer};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw_ws(server: &TestServer, query: &str) -> Ws {
    let url = format!("ws://{}/ws{query}", server.addr());
    tokio_tungstenite::connect_async(url)
        .await
        .expect("the WebSocket handshake succeeds")
        .0
}

/// The next data frame's payload, and whether it was text.
async fn frame(ws: &mut Ws) -> (Vec<u8>, bool) {
    loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("the server answers in time")
            .expect("the connection is open")
            .expect("a frame");
        match next {
            Message::Binary(b) => return (b.to_vec(), false),
            Message::Text(t) => return (t.as_bytes().to_vec(), true),
            _ => {}
        }
    }
}

async fn v1_next(ws: &mut Ws, codec: Codec) -> v1::ServerMsg {
    let (payload, _) = frame(ws).await;
    v1::decode_server(codec, &payload).expect("a version-1 message")
}

async fn v1_send(ws: &mut Ws, codec: Codec, msg: &v1::ClientMsg) {
    let bytes = v1::encode_client(codec, msg).expect("encodes");
    let message = if codec.is_text() {
        Message::Text(String::from_utf8(bytes).expect("JSON").into())
    } else {
        Message::Binary(bytes.into())
    };
    ws.send(message).await.expect("sent");
}

#[tokio::test]
async fn version_one_clients_play_beside_version_two_ones() {
    let server = TestServer::start().await;
    let mut walker = server.client(Codec::Postcard, "walker").await;
    walker.join("lobby").await;
    for (x, codec, query) in [
        (3.25, Codec::Postcard, ""),
        (4.5, Codec::Json, "?codec=json"),
    ] {
        let mut old = raw_ws(&server, query).await;
        let name = format!("old-{query}");
        v1_send(
            &mut old,
            codec,
            &v1::ClientMsg::Hello {
                protocol: 1,
                name,
                token: None,
                visitor: None,
                secret: None,
            },
        )
        .await;
        let v1::ServerMsg::Welcome { protocol, .. } = v1_next(&mut old, codec).await else {
            panic!("a version-1 welcome");
        };
        assert_eq!(protocol, 1, "the server speaks the client's version");
        v1_send(
            &mut old,
            codec,
            &v1::ClientMsg::Join {
                space: "lobby".into(),
            },
        )
        .await;
        loop {
            if let v1::ServerMsg::Joined { users, .. } = v1_next(&mut old, codec).await {
                assert!(users.iter().any(|u| u.user == walker.user));
                break;
            }
        }
        let pose = WireTransform::at([x, 0.0, -1.5]);
        walker.send(&ClientMsg::Pose { transform: pose }).await;
        let seen = loop {
            if let v1::ServerMsg::Delta { avatars, .. } = v1_next(&mut old, codec).await
                && let Some(a) = avatars.iter().find(|a| a.user == walker.user)
            {
                break a.transform;
            }
        };
        assert_eq!(seen, pose, "version 1 gets poses with user ids, as before");
        // Version 1 has no `ref`: its refusals are as they were.
        v1_send(
            &mut old,
            codec,
            &v1::ClientMsg::Despawn { id: Uuid::new_v4() },
        )
        .await;
        loop {
            if let v1::ServerMsg::Error { code, .. } = v1_next(&mut old, codec).await {
                assert_eq!(code, ErrorCode::NotFound);
                break;
            }
        }
    }
}

#[tokio::test]
async fn a_json_hello_needs_no_codec_query_and_versions_are_negotiated() {
    let server = TestServer::start().await;
    let mut ws = raw_ws(&server, "").await;
    let hello = br#"{"type":"hello","protocol":2,"name":"jay","versions":[2,1]}"#;
    ws.send(Message::Text(
        String::from_utf8_lossy(hello).into_owned().into(),
    ))
    .await
    .expect("sent");
    let (payload, text) = frame(&mut ws).await;
    assert!(text, "a JSON hello is answered in JSON");
    let welcome: serde_json::Value = serde_json::from_slice(&payload).expect("JSON");
    assert_eq!(
        (&welcome["type"], &welcome["protocol"], &welcome["codec"]),
        (&"welcome".into(), &2.into(), &"json".into())
    );

    // A client of versions the server does not speak is told so and closed.
    let mut future = raw_ws(&server, "").await;
    let hello = br#"{"type":"hello","protocol":9,"name":"zed","versions":[9,8]}"#;
    future
        .send(Message::Text(
            String::from_utf8_lossy(hello).into_owned().into(),
        ))
        .await
        .expect("sent");
    let (payload, _) = frame(&mut future).await;
    let error: serde_json::Value = serde_json::from_slice(&payload).expect("JSON");
    assert_eq!(error["code"], "protocol_mismatch", "{error}");
    assert!(
        error["message"].as_str().expect("text").contains("[2, 1]"),
        "{error}"
    );

    // A binary hello may ask for JSON from the welcome on.
    let mut switch = raw_ws(&server, "").await;
    let mut ask = ClientMsg::hello("sue");
    if let ClientMsg::Hello { codec, .. } = &mut ask {
        *codec = Some(Codec::Json);
    }
    let bytes = Codec::Postcard.encode_client(&ask).expect("encodes");
    switch
        .send(Message::Binary(bytes.into()))
        .await
        .expect("sent");
    let (payload, text) = frame(&mut switch).await;
    assert!(text, "after a hello asking for JSON, frames are JSON");
    let welcome: serde_json::Value = serde_json::from_slice(&payload).expect("JSON");
    assert_eq!(welcome["codec"], "json");
    switch
        .send(Message::Text(r#"{"type":"ping","t":5}"#.into()))
        .await
        .expect("sent");
    let (payload, _) = frame(&mut switch).await;
    let pong: serde_json::Value = serde_json::from_slice(&payload).expect("JSON");
    assert_eq!((&pong["type"], &pong["t"]), (&"pong".into(), &5.0.into()));
}

/// The next refusal's code and `ref`.
async fn refusal(c: &mut Client) -> (ErrorCode, Option<u32>) {
    c.recv_until(|m| match m {
        ServerMsg::Error { code, request, .. } => Some((*code, *request)),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn refusals_carry_the_ref_and_chat_lines_their_id() {
    let server = TestServer::start().await;
    for codec in [Codec::Postcard, Codec::Json] {
        let mut c = server.client(codec, &format!("refs-{codec:?}")).await;
        c.send(&ClientMsg::Despawn {
            id: Uuid::new_v4(),
            request: Some(41),
        })
        .await;
        let refused = refusal(&mut c).await;
        assert_eq!(
            refused,
            (ErrorCode::NotJoined, Some(41)),
            "refused by the world"
        );
        c.join("lobby").await;
        c.send(&ClientMsg::Chat {
            text: "x".repeat(5000),
            request: Some(42),
        })
        .await;
        let refused = refusal(&mut c).await;
        assert_eq!(
            refused,
            (ErrorCode::TooLarge, Some(42)),
            "refused at the edge"
        );
        c.send(&ClientMsg::Chat {
            text: "hello".into(),
            request: None,
        })
        .await;
        let id = c
            .recv_until(|m| match m {
                ServerMsg::Chat(line) => Some(line.id),
                _ => None,
            })
            .await;
        assert_ne!(id, Uuid::nil(), "a live chat line carries its id");
    }
}

#[tokio::test]
async fn binary_clients_get_poses_coded_against_the_last_ones() {
    let server = TestServer::start().await;
    let mut walker = server.client(Codec::Postcard, "strider").await;
    walker.join("lobby").await;
    let mut watcher = Client::hello(server.addr(), Codec::Postcard, "watcher").await;
    watcher.join("lobby").await;
    // Ten steps of 14 cm; each delta must resolve to the pose sent, to the millimetre.
    for step in 1..=10 {
        let pose = WireTransform {
            pos: [1.0 + 0.14 * step as f32, 0.0, 2.0],
            rot: [0.0, 0.38268343, 0.0, 0.9238795],
            scale: [1.0; 3],
        };
        walker.send(&ClientMsg::Pose { transform: pose }).await;
        let seen = watcher
            .recv_until(|m| match m {
                ServerMsg::Delta { avatars, .. } => avatars
                    .entries()
                    .iter()
                    .find(|a| a.user == walker.user)
                    .map(|a| a.transform.transform()),
                _ => None,
            })
            .await;
        let off = seen
            .pos
            .iter()
            .zip(pose.pos)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(off <= 0.0005, "step {step}: {seen:?} for {pose:?}");
        assert!((seen.rot[1] - pose.rot[1]).abs() < 1e-4, "{seen:?}");
    }
    // What went over the wire for one step: the frame of a delta with a single pose.
    let mut raw = raw_ws(&server, "").await;
    let bytes = Codec::Postcard
        .encode_client(&ClientMsg::hello("counter"))
        .expect("encodes");
    raw.send(Message::Binary(bytes.into())).await.expect("sent");
    frame(&mut raw).await;
    let join = Codec::Postcard
        .encode_client(&ClientMsg::Join {
            space: "lobby".into(),
            request: None,
        })
        .expect("encodes");
    raw.send(Message::Binary(join.into())).await.expect("sent");
    loop {
        let (payload, _) = frame(&mut raw).await;
        if matches!(
            Codec::Postcard.decode_server(&payload),
            Ok(ServerMsg::Joined { .. })
        ) {
            break;
        }
    }
    walker
        .send(&ClientMsg::Pose {
            transform: WireTransform::at([3.0, 0.0, 2.14]),
        })
        .await;
    let size = loop {
        let (payload, _) = frame(&mut raw).await;
        if let Ok(ServerMsg::Delta { avatars, .. }) = Codec::Postcard.decode_server(&payload)
            && !avatars.is_empty()
        {
            break payload.len();
        }
    };
    // Variant, tick (3 bytes), 2 empty lists, avatars (length, count, gap, flags, dx, dz
    // with the turn undone: 1–3 bytes), 5 empty lists.
    assert!(size <= 20, "a one-step delta took {size} bytes");
}
