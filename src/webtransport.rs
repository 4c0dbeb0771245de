//! Browsers over WebTransport: HTTP/3 on its own UDP port, session path `/wt`.
//!
//! The browser opens one bidirectional stream and speaks the same length-prefixed frames as
//! native QUIC; `?codec=json` switches them to JSON, as on WebSocket. The connection is run
//! by [`crate::session`]. With the self-signed certificate, a page connects with
//! `serverCertificateHashes` and the SHA-256 from `GET /cert-hash`.

use std::sync::Arc;
use std::time::Duration;

use plaza_net::Codec;
use plaza_systems::SessionMeta;
use wtransport::endpoint::IncomingSession;
use wtransport::endpoint::endpoint_side::Server;
use wtransport::{Connection, Endpoint, SendStream, ServerConfig, VarInt};

use crate::config::Config;
use crate::conn::DatagramSink;
use crate::edge::Edge;
use crate::framing::{FramedSink, FramedSource, StreamEnd};
use crate::session;
use crate::tls::{Identity, TlsError};

/// Close code for a session that opened more streams than allowed.
const TOO_MANY_STREAMS: u32 = 4001;
/// Close code for a session that opened no stream within the handshake deadline.
const NO_STREAM: u32 = 4002;

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
    let mut transport = quinn::TransportConfig::default();
    let idle = Duration::from_millis(config.quic_idle_timeout_ms);
    transport
        .max_idle_timeout(idle.try_into().ok())
        .datagram_receive_buffer_size(Some(64 * 1024));
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
    let Ok(permit) = edge.permits.clone().try_acquire_owned() else {
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
    let Ok(Ok((send, recv))) = tokio::time::timeout(deadline, connection.accept_bi()).await else {
        connection.close(
            VarInt::from_u32(NO_STREAM),
            b"no stream opened within the handshake deadline",
        );
        return;
    };
    let guard = tokio::spawn(refuse_extra_streams(
        connection.clone(),
        edge.config.quic_max_streams,
    ));
    let meta = SessionMeta {
        transport: "wt",
        client_addr: Some(connection.remote_address().ip()),
        user_agent,
    };
    let mut source = FramedSource::spawn(recv, edge.config.max_frame_bytes);
    let incoming = connection.clone();
    source.take_datagrams(move || {
        let connection = incoming.clone();
        async move {
            connection
                .receive_datagram()
                .await
                .ok()
                .map(|d| bytes::Bytes::copy_from_slice(d.payload().as_ref()))
        }
    });
    let datagrams: Arc<dyn DatagramSink> = Arc::new(WtDatagrams(connection.clone()));
    let sink = FramedSink::new(send, WtEnd(connection));
    session::run(source, sink, edge, codec, meta, Some(datagrams)).await;
    guard.abort();
    drop(permit);
}

/// Streams beyond the first are not used; past `max` in all, the session is closed.
async fn refuse_extra_streams(connection: Connection, max: u32) {
    let mut opened = 1;
    while let Ok((mut send, _)) = connection.accept_bi().await {
        opened += 1;
        if opened > max {
            let reason = format!("too many streams: at most {max} per connection");
            connection.close(VarInt::from_u32(TOO_MANY_STREAMS), reason.as_bytes());
            return;
        }
        let _ = send.finish().await;
    }
}

/// Datagrams of a WebTransport session.
struct WtDatagrams(Connection);

impl std::fmt::Debug for WtDatagrams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WtDatagrams")
    }
}

impl DatagramSink for WtDatagrams {
    fn max_size(&self) -> Option<usize> {
        self.0.max_datagram_size()
    }

    fn send(&self, payload: bytes::Bytes) -> bool {
        self.0.send_datagram(payload).is_ok()
    }
}

/// Finishing a WebTransport stream and closing its session.
struct WtEnd(Connection);

impl StreamEnd<SendStream> for WtEnd {
    async fn finish(&self, send: &mut SendStream) {
        let _ = send.finish().await;
    }

    fn close_connection(&self, code: u32, reason: &[u8]) {
        self.0.close(VarInt::from_u32(code), reason);
    }
}
