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
