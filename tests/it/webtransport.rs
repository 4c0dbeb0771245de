//! WebTransport at `/wt`: the same protocol and both codecs, as browsers use it (the
//! client trusts the server by certificate hash, like `serverCertificateHashes`).

use plaza_net::{ClientMsg, Codec, ErrorCode, ServerMsg, WireTransform};

use crate::support::{Client, TestServer};

#[tokio::test]
async fn the_spine_scenario_works_over_webtransport_with_both_codecs() {
    let server = TestServer::start().await;
    let mut json = Client::hello_wt(&server, Codec::Json, "browser-json").await;
    let mut binary = Client::hello_wt(&server, Codec::Postcard, "browser-binary").await;
    let mut native = Client::hello_quic(&server, "native").await;
    for client in [&mut json, &mut binary, &mut native] {
        client.join("gallery").await;
    }
    let id = native.spawn(3, [1.0, 2.0, 3.0]).await;
    native
        .send(&ClientMsg::Move {
            id,
            transform: WireTransform::at([7.0, 0.0, 0.0]),
            request: None,
        })
        .await;
    for client in [&mut json, &mut binary] {
        client
            .recv_until(|m| match m {
                ServerMsg::Delta { objects, .. } => objects
                    .iter()
                    .any(|o| o.id == id && o.transform.pos[0] == 7.0)
                    .then_some(()),
                _ => None,
            })
            .await;
    }
    binary
        .send(&ClientMsg::Chat {
            text: "hello from h3".into(),
            request: None,
        })
        .await;
    json.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "hello from h3").then_some(()))
        .await;
    json.net()
        .send_payload(b"{\"type\":\"warp\"}")
        .await
        .expect("sent");
    json.expect_error(ErrorCode::BadMessage).await;
    server.stop().await;
}

#[tokio::test]
async fn sessions_on_other_paths_are_refused() {
    let server = TestServer::start().await;
    let addr = server
        .server
        .webtransport_addr()
        .expect("WebTransport is enabled");
    let config = wtransport::ClientConfig::builder()
        .with_bind_default()
        .with_server_certificate_hashes([wtransport::tls::Sha256Digest::new(
            server.server.edge().cert_sha256,
        )])
        .build();
    let endpoint = wtransport::Endpoint::client(config).expect("a client endpoint");
    assert!(
        endpoint
            .connect(format!("https://{addr}/elsewhere"))
            .await
            .is_err()
    );
    assert!(
        endpoint
            .connect(format!("https://{addr}/wt?codec=xml"))
            .await
            .is_err()
    );
    server.stop().await;
}

/// Reads one QUIC variable-length integer from the front of `bytes`.
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let first = *bytes.first()?;
    let len = 1usize << (first >> 6);
    let raw = bytes.get(..len)?;
    let mut value = u64::from(first & 0x3f);
    for &b in &raw[1..] {
        value = (value << 8) | u64::from(b);
    }
    *bytes = &bytes[len..];
    Some(value)
}

/// What Safari (26.4+) needs to see: the draft-14 WebTransport settings, with the old
/// ones still there for Chromium and Firefox. A raw HTTP/3 client reads the SETTINGS frame
/// from the server's control stream.
#[tokio::test]
async fn the_server_announces_webtransport_settings_old_and_new() {
    use std::collections::HashMap;
    let server = TestServer::start().await;
    let addr = server
        .server
        .webtransport_addr()
        .expect("WebTransport is enabled");
    let tls = plaza_net::pinned_tls(server.server.edge().cert_sha256, b"h3").expect("tls");
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic tls");
    let mut endpoint =
        quinn::Endpoint::client("127.0.0.1:0".parse().expect("an address")).expect("endpoint");
    endpoint.set_default_client_config(quinn::ClientConfig::new(std::sync::Arc::new(crypto)));
    let connection = endpoint
        .connect(addr, "localhost")
        .expect("connecting")
        .await
        .expect("the QUIC handshake with ALPN h3");
    // Our own control stream with SETTINGS (H3_DATAGRAM = 1), as any HTTP/3 client sends.
    let mut control = connection.open_uni().await.expect("a control stream");
    control
        .write_all(&[0x00, 0x04, 0x02, 0x33, 0x01])
        .await
        .expect("client settings sent");

    let settings = tokio::time::timeout(crate::support::WAIT, async {
        loop {
            let mut stream = connection.accept_uni().await.expect("a server stream");
            let mut first = [0u8; 1];
            stream.read_exact(&mut first).await.expect("a stream type");
            if first[0] != 0x00 {
                continue; // QPACK encoder or decoder stream.
            }
            // The control stream: its first frame is SETTINGS (type 0x04).
            let mut head = Vec::new();
            let (kind, length) = loop {
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await.expect("frame header");
                head.push(byte[0]);
                let mut slice = head.as_slice();
                if let (Some(kind), Some(length)) = (varint(&mut slice), varint(&mut slice)) {
                    break (kind, length);
                }
            };
            assert_eq!(kind, 0x04, "the control stream starts with SETTINGS");
            let mut payload = vec![0u8; usize::try_from(length).expect("a small frame")];
            stream.read_exact(&mut payload).await.expect("the settings");
            let mut rest = payload.as_slice();
            let mut settings = HashMap::new();
            while !rest.is_empty() {
                let id = varint(&mut rest).expect("a setting id");
                let value = varint(&mut rest).expect("a setting value");
                settings.insert(id, value);
            }
            break settings;
        }
    })
    .await
    .expect("the server sends its SETTINGS");

    let has = |id: u64, what: &str| {
        settings
            .get(&id)
            .copied()
            .unwrap_or_else(|| panic!("{what} ({id:#x}) missing from {settings:x?}"))
    };
    assert_eq!(has(0x2b60_3742, "ENABLE_WEBTRANSPORT (draft-07)"), 1);
    assert!(has(0xc671_706a, "WEBTRANSPORT_MAX_SESSIONS (draft-07)") >= 1);
    assert_eq!(has(0x2c7c_f000, "SETTINGS_WT_ENABLED"), 1);
    assert!(has(0x14e9_cd29, "SETTINGS_WT_MAX_SESSIONS") >= 1);
    for (id, what) in [
        (0x2b64, "SETTINGS_WT_INITIAL_MAX_STREAMS_UNI"),
        (0x2b65, "SETTINGS_WT_INITIAL_MAX_STREAMS_BIDI"),
        (0x2b61, "SETTINGS_WT_INITIAL_MAX_DATA"),
    ] {
        assert!(has(id, what) >= 1 << 20, "{what} must not bind");
    }
    assert_eq!(has(0x33, "H3_DATAGRAM"), 1);
    assert_eq!(has(0x08, "ENABLE_CONNECT_PROTOCOL"), 1);
    connection.close(0u32.into(), b"done");
    server.stop().await;
}
