//! Native clients over QUIC (ALPN `plaza/1`), on their own UDP port.
//!
//! A client opens one bidirectional stream and speaks length-prefixed postcard frames on
//! it (a 4-byte big-endian length, then the message). The connection itself is run by
//! [`crate::edge::session`]; this module only frames bytes and enforces QUIC's own limits:
//! the handshake and the first stream must come within `handshake_timeout_ms`, idle
//! connections end after `quic_idle_timeout_ms`, and a client that opens more than
//! `quic_max_streams` streams is closed.

use std::sync::Arc;
use std::time::Duration;

use plaza_net::Codec;
use plaza_systems::{SessionMeta, Transport};
use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Connection, Endpoint, VarInt};

use crate::config::Config;
use crate::edge::Edge;
use crate::edge::transport::stream::{self, StreamConnection};
use crate::tls::{Identity, TlsError};

/// Why the QUIC endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    /// The TLS identity is unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// rustls and QUIC disagree (e.g. no TLS 1.3 cipher suite).
    #[error("TLS configuration unusable for QUIC: {0}")]
    Crypto(String),
    /// The UDP port could not be bound.
    #[error("cannot listen for QUIC on {addr}: {source}; is another server using the port?")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Transport settings shared by QUIC and WebTransport. quinn's defaults suit bulk
/// transfers (10 MB send window, 1 MB datagram send buffer per connection); Plaza sends
/// small messages to thousands of clients, so buffers are bounded to what one client can
/// reasonably have in flight. A client that falls behind then fills its outbound queue and
/// is closed as too slow, and motion datagrams it cannot take are dropped oldest first
/// (newest wins anyway), instead of megabytes piling up per connection (seen at 5,000
/// bots: 606 MB resident).
pub fn transport_config(config: &Config) -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    let idle = Duration::from_millis(config.quic_idle_timeout_ms);
    // One frame of the largest size a client may send, and its length prefix.
    let frame_window =
        VarInt::from_u32(u32::try_from(config.hard_frame_bytes() + 4).unwrap_or(u32::MAX));
    transport
        .max_idle_timeout(idle.try_into().ok())
        .stream_receive_window(frame_window)
        .receive_window(frame_window)
        .send_window(256 * 1024)
        .datagram_receive_buffer_size(Some(64 * 1024))
        .datagram_send_buffer_size(32 * 1024);
    transport
}

/// The QUIC endpoint described by `config`, with `identity`'s certificate.
pub fn endpoint(config: &Config, identity: &Identity) -> Result<Endpoint, QuicError> {
    let tls = identity.server_config(&[plaza_net::ALPN])?;
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| QuicError::Crypto(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = transport_config(config);
    transport
        // One more than allowed, so that a client going over is seen, and closed.
        .max_concurrent_bidi_streams(VarInt::from_u32(config.quic_max_streams + 1))
        .max_concurrent_uni_streams(VarInt::from_u32(0));
    server.transport_config(Arc::new(transport));
    let bind = |source| QuicError::Bind {
        addr: config.quic_listen,
        source,
    };
    let socket = std::net::UdpSocket::bind(config.quic_listen).map_err(bind)?;
    // quinn sends a burst of same-sized packets in one syscall (UDP GSO) where the kernel
    // allows it; say whether it does here, since fan-out to many clients depends on it.
    let gso_segments = quinn::udp::UdpSocketState::new((&socket).into())
        .map(|state| state.max_gso_segments())
        .unwrap_or(1);
    tracing::info!(
        gso_segments,
        "QUIC socket bound (gso_segments > 1: GSO in use)"
    );
    let runtime = quinn::default_runtime()
        .ok_or_else(|| bind(std::io::Error::other("no async runtime for QUIC")))?;
    Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server),
        socket,
        runtime,
    )
    .map_err(bind)
}

/// Accepts connections until the endpoint is closed.
pub async fn serve(endpoint: Endpoint, edge: Arc<Edge>) {
    while let Some(incoming) = endpoint.accept().await {
        let edge = edge.clone();
        tokio::spawn(async move { accept(incoming, edge).await });
    }
}

async fn accept(incoming: quinn::Incoming, edge: Arc<Edge>) {
    let Some(slot) = stream::admit(&edge, incoming.remote_address().ip()) else {
        incoming.refuse();
        return;
    };
    let deadline = Duration::from_millis(edge.config.handshake_timeout_ms);
    let Ok(Ok(connection)) = tokio::time::timeout(deadline, incoming).await else {
        return;
    };
    let meta = SessionMeta {
        transport: Transport::Quic,
        client_addr: Some(connection.remote_address().ip()),
        user_agent: None,
        visitor: None,
    };
    stream::serve_connection(connection, edge, Codec::Postcard, meta).await;
    drop(slot);
}

impl StreamConnection for Connection {
    type Send = quinn::SendStream;
    type Recv = quinn::RecvStream;

    async fn accept_bi(&self) -> Option<(Self::Send, Self::Recv)> {
        Connection::accept_bi(self).await.ok()
    }

    async fn read_datagram(&self) -> Option<bytes::Bytes> {
        Connection::read_datagram(self).await.ok()
    }

    fn send_datagram(&self, payload: bytes::Bytes) -> bool {
        Connection::send_datagram(self, payload).is_ok()
    }

    fn max_datagram_size(&self) -> Option<usize> {
        Connection::max_datagram_size(self)
    }

    async fn finish(send: &mut Self::Send) {
        let _ = send.finish();
        let _ = send.stopped().await;
    }

    fn close(&self, code: u32, reason: &[u8]) {
        Connection::close(self, VarInt::from_u32(code), reason);
    }
}
