//! Native clients over QUIC (ALPN `plaza/1`), on their own UDP port.
//!
//! A client opens one bidirectional stream and speaks length-prefixed postcard frames on
//! it (a 4-byte big-endian length, then the message). The connection itself is run by
//! [`crate::session`]; this module only frames bytes and enforces QUIC's own limits:
//! the handshake and the first stream must come within `handshake_timeout_ms`, idle
//! connections end after `quic_idle_timeout_ms`, and a client that opens more than
//! `quic_max_streams` streams is closed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use plaza_net::{Codec, ErrorCode};
use plaza_systems::SessionMeta;
use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Connection, Endpoint, RecvStream, SendStream, VarInt};

use crate::bridge::{Frame, Refusal};
use crate::config::Config;
use crate::conn::CloseReason;
use crate::edge::Edge;
use crate::session::{self, FrameSink, FrameSource, Incoming};
use crate::tls::{Identity, PLAZA_ALPN, TlsError};

/// Frames up to this many times `max_frame_bytes` are read and refused with `too_large`;
/// a longer length prefix ends the connection.
const HARD_FRAME_FACTOR: usize = 4;
/// Close code for a client that opened more streams than allowed.
const TOO_MANY_STREAMS: u32 = 4001;
/// Close code for a client that opened no stream within the handshake deadline.
const NO_STREAM: u32 = 4002;

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

/// The QUIC endpoint described by `config`, with `identity`'s certificate.
pub fn endpoint(config: &Config, identity: &Identity) -> Result<Endpoint, QuicError> {
    let tls = identity.server_config(&[PLAZA_ALPN])?;
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| QuicError::Crypto(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    let idle = Duration::from_millis(config.quic_idle_timeout_ms);
    transport
        // One more than allowed, so that a client going over is seen, and closed.
        .max_concurrent_bidi_streams(VarInt::from_u32(config.quic_max_streams + 1))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .max_idle_timeout(Some(
            idle.try_into()
                .map_err(|_| QuicError::Crypto("idle timeout too large".into()))?,
        ))
        .datagram_receive_buffer_size(Some(64 * 1024));
    server.transport_config(Arc::new(transport));
    Endpoint::server(server, config.quic_listen).map_err(|source| QuicError::Bind {
        addr: config.quic_listen,
        source,
    })
}

/// Accepts connections until the endpoint is closed.
pub async fn serve(endpoint: Endpoint, edge: Arc<Edge>) {
    while let Some(incoming) = endpoint.accept().await {
        let edge = edge.clone();
        tokio::spawn(async move { accept(incoming, edge).await });
    }
}

async fn accept(incoming: quinn::Incoming, edge: Arc<Edge>) {
    let Ok(permit) = edge.permits.clone().try_acquire_owned() else {
        incoming.refuse();
        return;
    };
    let deadline = Duration::from_millis(edge.config.handshake_timeout_ms);
    let Ok(Ok(connection)) = tokio::time::timeout(deadline, incoming).await else {
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
        transport: "quic",
        client_addr: Some(connection.remote_address().ip()),
        user_agent: None,
    };
    let source = QuicSource {
        recv,
        max: edge.config.max_frame_bytes,
        broken: false,
    };
    let sink = QuicSink { send, connection };
    session::run(source, sink, edge, Codec::Postcard, meta).await;
    guard.abort();
    drop(permit);
}

/// Streams beyond the first are not used; past `max` in all, the connection is closed.
async fn refuse_extra_streams(connection: Connection, max: u32) {
    let mut opened = 1;
    while let Ok((mut send, _)) = connection.accept_bi().await {
        opened += 1;
        if opened > max {
            let reason = format!("too many streams: at most {max} per connection");
            connection.close(VarInt::from_u32(TOO_MANY_STREAMS), reason.as_bytes());
            return;
        }
        let _ = send.finish();
    }
}

/// Reads length-prefixed frames from the session's stream.
struct QuicSource {
    recv: RecvStream,
    max: usize,
    /// Set after a frame too long to skip: the stream is out of step and must end.
    broken: bool,
}

impl FrameSource for QuicSource {
    async fn next(&mut self) -> Incoming {
        if self.broken {
            return Incoming::End;
        }
        let mut prefix = [0_u8; 4];
        if self.recv.read_exact(&mut prefix).await.is_err() {
            return Incoming::End;
        }
        let len = u32::from_be_bytes(prefix) as usize;
        if len > self.max {
            let message = format!("frame of {len} bytes is over the limit of {}", self.max);
            let refusal = Refusal {
                code: ErrorCode::TooLarge,
                message,
            };
            if len > self.max * HARD_FRAME_FACTOR {
                self.broken = true;
            } else if skip(&mut self.recv, len).await.is_err() {
                return Incoming::End;
            }
            return Incoming::Refused(refusal);
        }
        let mut payload = vec![0; len];
        match self.recv.read_exact(&mut payload).await {
            Ok(()) => Incoming::Data(Bytes::from(payload)),
            // A truncated frame: the client finished or reset its stream mid-frame.
            Err(_) => Incoming::End,
        }
    }
}

async fn skip(recv: &mut RecvStream, mut len: usize) -> Result<(), quinn::ReadExactError> {
    let mut buf = [0_u8; 4096];
    while len > 0 {
        let n = len.min(buf.len());
        recv.read_exact(&mut buf[..n]).await?;
        len -= n;
    }
    Ok(())
}

/// Writes length-prefixed frames on the session's stream.
struct QuicSink {
    send: SendStream,
    connection: Connection,
}

impl FrameSink for QuicSink {
    async fn send(&mut self, frame: Frame) -> Result<(), ()> {
        let prefix = (frame.bytes.len() as u32).to_be_bytes();
        self.send.write_all(&prefix).await.map_err(|_| ())?;
        self.send.write_all(&frame.bytes).await.map_err(|_| ())
    }

    async fn close(&mut self, reason: &CloseReason) {
        // Let what was sent arrive before the connection goes.
        let _ = self.send.finish();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.send.stopped()).await;
        let text: String = reason.text.chars().take(120).collect();
        self.connection
            .close(VarInt::from_u32(u32::from(reason.code)), text.as_bytes());
    }
}
