//! Browsers over WebTransport: HTTP/3 on its own UDP port, session path `/wt`.
//!
//! The browser opens one bidirectional stream and speaks the same length-prefixed frames as
//! native QUIC; `?codec=json` switches them to JSON, as on WebSocket. The connection is run
//! by [`crate::edge::session`]. With the self-signed certificate, a page connects with
//! `serverCertificateHashes` and the SHA-256 from `GET /cert-hash`.

use std::sync::Arc;
use std::time::Duration;

use plaza_net::Codec;
use plaza_systems::{SessionMeta, Transport};
use wtransport::endpoint::IncomingSession;
use wtransport::endpoint::endpoint_side::Server;
use wtransport::{Connection, Endpoint, ServerConfig, VarInt};

use crate::config::Config;
use crate::edge::Edge;
use crate::edge::transport::stream::{self, StreamConnection};
use crate::tls::{Identity, TlsError};

/// Why the WebTransport endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebTransportError {
    /// The TLS identity is unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The UDP port could not be bound.
    #[error(
        "cannot listen for WebTransport on {addr}: {source}; is another server using the port?"
    )]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// The WebTransport endpoint described by `config`, with `identity`'s certificate.
pub fn endpoint(
    config: &Config,
    identity: &Identity,
) -> Result<Endpoint<Server>, WebTransportError> {
    let tls = identity.server_config(&[wtransport::tls::WEBTRANSPORT_ALPN])?;
    let transport = crate::edge::transport::quic::transport_config(config);
    let server = ServerConfig::builder()
        .with_bind_address(config.webtransport_listen)
        .with_custom_tls_and_transport(tls, transport)
        .build();
    Endpoint::server(server).map_err(|source| WebTransportError::Bind {
        addr: config.webtransport_listen,
        source,
    })
}

/// Accepts sessions until this task is aborted (which must happen before the endpoint is
/// closed: wtransport's accept panics on a closed endpoint).
pub async fn serve(endpoint: Arc<Endpoint<Server>>, edge: Arc<Edge>) {
    loop {
        let incoming = endpoint.accept().await;
        let edge = edge.clone();
        tokio::spawn(async move { accept(incoming, edge).await });
    }
}

async fn accept(incoming: IncomingSession, edge: Arc<Edge>) {
    let Some(slot) = stream::admit(&edge, incoming.remote_address().ip()) else {
        incoming.refuse();
        return;
    };
    let deadline = Duration::from_millis(edge.config.handshake_timeout_ms);
    let Ok(Ok(request)) = tokio::time::timeout(deadline, incoming).await else {
        return;
    };
    let (path, query) = request
        .path()
        .split_once('?')
        .unwrap_or((request.path(), ""));
    let codec_value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("codec="));
    let codec = match (path, Codec::from_query(codec_value)) {
        ("/wt", Some(codec)) => codec,
        _ => return request.not_found().await,
    };
    let user_agent = request
        .headers()
        .get("user-agent")
        .map(|v| Arc::from(v.chars().take(512).collect::<String>()));
    let Ok(connection) = request.accept().await else {
        return;
    };
    let meta = SessionMeta {
        transport: Transport::WebTransport,
        client_addr: Some(connection.remote_address().ip()),
        user_agent,
        visitor: None,
    };
    stream::serve_connection(connection, edge, codec, meta).await;
    drop(slot);
}

impl StreamConnection for Connection {
    type Send = wtransport::SendStream;
    type Recv = wtransport::RecvStream;

    async fn accept_bi(&self) -> Option<(Self::Send, Self::Recv)> {
        Connection::accept_bi(self).await.ok()
    }

    async fn read_datagram(&self) -> Option<bytes::Bytes> {
        let datagram = self.receive_datagram().await.ok()?;
        Some(bytes::Bytes::copy_from_slice(datagram.payload().as_ref()))
    }

    fn send_datagram(&self, payload: bytes::Bytes) -> bool {
        Connection::send_datagram(self, payload).is_ok()
    }

    fn max_datagram_size(&self) -> Option<usize> {
        Connection::max_datagram_size(self)
    }

    async fn finish(send: &mut Self::Send) {
        let _ = send.finish().await;
    }

    fn close(&self, code: u32, reason: &[u8]) {
        Connection::close(self, VarInt::from_u32(code), reason);
    }
}
