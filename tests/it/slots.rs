//! Nothing a client does can hold a connection slot for long: a client that stops reading
//! is closed after `write_timeout_ms`; an HTTP request whose head or body does not arrive
//! in time is cut off; one address holds at most `max_connections_per_addr` connections of
//! any kind; a silent WebSocket is closed after `ws_idle_timeout_ms`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use plaza_net::{Codec, Received};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{Client, TestServer, WAIT, eventually, flood_until_slow, register};

/// A raw TCP connection from `from`.
async fn tcp_from(from: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.bind(SocketAddr::new(from, 0)).expect("binds");
    socket.connect(addr).await.expect("connects")
}

/// Reads until the server closes the connection; what it sent, and how long that took.
async fn until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection in time")
        .ok();
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_and_frees_its_slot() {
    let server = TestServer::start_with(|c| {
        c.write_timeout_ms = 500;
        c.client_messages_per_sec = 100_000;
        c.client_message_burst = 100_000;
        c.message_rates.spawn = plaza::config::Rate::new(100_000.0, 100_000);
    })
    .await;
    let edge = server.server.edge().clone();
    let mut builder = server.client(Codec::Postcard, "builder").await;
    builder.join("lobby").await;
    let before = edge.connections();
    let mut stalled = Client::connect_small_buffer(server.addr(), Codec::Postcard).await;
    stalled.join("lobby").await;
    assert_eq!(edge.connections(), before + 1);
    // Deltas of ~35 KB each fill the stalled client's socket; it never reads again.
    let slow = flood_until_slow(&server, &mut builder, 400).await;
    assert_eq!(slow, 1, "the stalled client was found too slow");
    let edge_now = edge.clone();
    eventually(WAIT, "the stalled client's slot is free again", || {
        let edge = edge_now.clone();
        async move { edge.connections() == before }
    })
    .await;
    let open = edge
        .telemetry
        .transport(plaza_systems::Transport::WebSocket)
        .open
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(open, 1, "only the builder's session is open");
    builder.tick().await;
    drop(stalled);
    server.stop().await;
}

#[tokio::test]
async fn http_heads_and_bodies_that_do_not_arrive_are_cut_off() {
    let server = TestServer::start_with(|c| {
        c.http_header_timeout_ms = 500;
        c.http_body_timeout_ms = 800;
    })
    .await;
    let (addr, local) = (server.addr(), IpAddr::from([127, 0, 0, 1]));

    // Connects and sends nothing.
    let mut mute = tcp_from(local, addr).await;
    let (_, took) = until_closed(&mut mute).await;
    assert!(took < Duration::from_secs(3), "closed after {took:?}");

    // Sends half a request head and stops.
    let mut trickle = tcp_from(local, addr).await;
    trickle
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("sends");
    let (_, took) = until_closed(&mut trickle).await;
    assert!(took < Duration::from_secs(3), "closed after {took:?}");

    // Sends a complete head but only part of the body of an upload.
    let token = register(addr, "uploader", "correct horse battery").await;
    let mut partial = tcp_from(local, addr).await;
    let head = format!(
        "POST /api/media?kind=attachment HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: text/plain\r\nContent-Length: 100000\r\n\r\nonly a little"
    );
    partial.write_all(head.as_bytes()).await.expect("sends");
    let (answer, took) = until_closed(&mut partial).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < Duration::from_secs(3), "answered after {took:?}");

    // The server still answers everyone else.
    let (status, _) = crate::support::http_get(addr, "/health").await;
    assert_eq!(status, 200);
    eventually(WAIT, "every cut-off connection's slot is free", || {
        let edge = server.server.edge().clone();
        async move { edge.connections() == 0 }
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn one_address_cannot_hold_every_slot() {
    let server = TestServer::start_with(|c| {
        c.max_connections = 7;
        c.max_connections_per_addr = 3;
        c.http_header_timeout_ms = 60_000;
    })
    .await;
    let addr = server.addr();
    let ip = |last: u8| IpAddr::from([127, 0, 0, last]);
    // Three idle TCP connections fill 127.0.0.1's share...
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tcp_from(ip(1), addr).await);
    }
    eventually(WAIT, "the three are counted", || {
        let edge = server.server.edge().clone();
        async move { edge.connections() == 3 }
    })
    .await;
    // ...so a fourth from there is refused at once, over TCP and over QUIC.
    let mut fourth = tcp_from(ip(1), addr).await;
    let (answer, _) = until_closed(&mut fourth).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    let quic = plaza_net::Client::quic(
        server.server.quic_addr().expect("QUIC"),
        server.server.edge().cert_sha256,
    )
    .await;
    assert!(
        quic.is_err(),
        "a QUIC connection from the full address is refused"
    );

    // Other addresses still get in, up to max_connections in all.
    let mut others = Vec::new();
    for (n, last) in [2, 2, 3, 3].into_iter().enumerate() {
        others.push(Client::hello_from(ip(last), addr, Codec::Json, &format!("other{n}")).await);
    }
    let mut over = tcp_from(ip(4), addr).await;
    let (answer, _) = until_closed(&mut over).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");

    // Closing connections gives their slots back.
    drop(held);
    let mut back = Client::hello_from(ip(1), addr, Codec::Json, "back").await;
    back.tick().await;
    server.stop().await;
}

#[tokio::test]
async fn a_silent_websocket_is_closed_and_a_present_one_is_not() {
    let server = TestServer::start_with(|c| c.ws_idle_timeout_ms = 1_500).await;
    let mut silent = server.client(Codec::Json, "silent").await;
    let mut present = server.client(Codec::Json, "present").await;
    // The present client reads (and so answers the server's pings) for over two idle
    // timeouts, getting no message; the silent one neither reads nor sends meanwhile.
    let waited = tokio::time::timeout(Duration::from_secs(4), present.next()).await;
    assert!(
        waited.is_err(),
        "no message, and no close, for the present client"
    );
    present.tick().await;
    // By now the server has closed the silent one and freed its slot. (Its close frame
    // may be lost: the client answers the pings it reads late to a closed socket.)
    let edge = server.server.edge().clone();
    eventually(WAIT, "only the present client holds a slot", || {
        let edge = edge.clone();
        async move {
            let ws = edge
                .telemetry
                .transport(plaza_systems::Transport::WebSocket);
            edge.connections() == 1 && ws.open.load(std::sync::atomic::Ordering::Relaxed) == 1
        }
    })
    .await;
    match silent.next().await {
        Received::Closed(Some(closed)) => {
            assert!(closed.reason.contains("idle"), "{}", closed.reason);
            assert_eq!(closed.code, 1008);
        }
        Received::Closed(None) => {}
        Received::Msg(msg) => panic!("the silent client was sent {msg:?}"),
    }
    server.stop().await;
}
