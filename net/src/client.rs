//! A client for tests and load-test bots: one API over QUIC, WebTransport and WebSocket.
//!
//! QUIC connects with ALPN `plaza/1` and trusts the server by the SHA-256 of its
//! certificate (as browsers do with `serverCertificateHashes`), so self-signed servers
//! work without a CA. Messages are length-prefixed postcard frames on one stream.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use quinn::crypto::rustls::QuicClientConfig;
use quinn::{Connection, Endpoint};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::framing::{self, FrameRead, MAX_SERVER_FRAME_BYTES};
use crate::{ClientMsg, Codec, CodecError, ServerMsg};

/// ALPN of Plaza's native QUIC protocol.
pub const ALPN: &[u8] = b"plaza/1";

/// Why the client failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection could not be made.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The connection failed while sending or receiving.
    #[error("connection failed: {0}")]
    Io(String),
    /// A frame from the server did not decode.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Compact motion from the server did not fit what this client knows of the space.
    #[error(transparent)]
    Motion(#[from] crate::PoseError),
    /// The server sent a frame over the client's cap ([`MAX_SERVER_FRAME_BYTES`]); the
    /// stream cannot be read any further.
    #[error("the server sent a frame of {len} bytes, over the limit of {max}")]
    FrameTooLarge {
        /// The frame's length.
        len: usize,
        /// The cap.
        max: usize,
    },
}

/// How the server ended the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// WebSocket close code, or QUIC application error code (Plaza uses the same numbers).
    pub code: u32,
    /// Why, for people.
    pub reason: String,
}

/// A QUIC client endpoint that clients can share.
pub type QuicEndpoint = Endpoint;

/// A WebTransport client endpoint that clients can share.
pub type WebTransportEndpoint =
    Arc<wtransport::Endpoint<wtransport::endpoint::endpoint_side::Client>>;

/// What arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A message.
    Msg(ServerMsg),
    /// The connection ended, with the server's reason if it gave one.
    Closed(Option<Closed>),
}

type Writer = Box<dyn AsyncWrite + Unpin + Send>;
type Reader = Box<dyn AsyncRead + Unpin + Send>;

/// The connection under a stream transport, for its close reason.
enum Peer {
    Quic {
        _endpoint: Endpoint,
        connection: Connection,
    },
    WebTransport {
        _endpoint: WebTransportEndpoint,
        connection: wtransport::Connection,
    },
}

/// What a stream transport's reader tasks deliver.
enum Inbound {
    Frame(bytes::Bytes),
    Datagram(Vec<u8>),
    /// A frame over the client's cap: reading stopped there.
    TooLarge(usize),
    End,
}

/// Reader tasks of a stream transport, ended with it.
struct Readers {
    rx: tokio::sync::mpsc::Receiver<Inbound>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Readers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Readers {
    /// Reads length-prefixed frames of at most `max_frame` bytes from `recv`, and
    /// datagrams from `peer`, into one channel.
    fn spawn(mut recv: Reader, peer: &Peer, max_frame: usize) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let frames = tx.clone();
        let reader = tokio::spawn(async move {
            loop {
                let item = match framing::read_frame(&mut recv, max_frame, max_frame).await {
                    FrameRead::Frame(payload) => Inbound::Frame(payload),
                    FrameRead::Oversized { len } | FrameRead::Skipped { len } => {
                        Inbound::TooLarge(len)
                    }
                    FrameRead::End | FrameRead::Finished => Inbound::End,
                };
                let last = !matches!(item, Inbound::Frame(_));
                if frames.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        let datagrams = match peer {
            Peer::Quic { connection, .. } => {
                let connection = connection.clone();
                tokio::spawn(async move {
                    while let Ok(d) = connection.read_datagram().await {
                        if tx.send(Inbound::Datagram(d.to_vec())).await.is_err() {
                            return;
                        }
                    }
                })
            }
            Peer::WebTransport { connection, .. } => {
                let connection = connection.clone();
                tokio::spawn(async move {
                    while let Ok(d) = connection.receive_datagram().await {
                        if tx
                            .send(Inbound::Datagram(d.payload().to_vec()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                })
            }
        };
        Self {
            rx,
            tasks: vec![reader, datagrams],
        }
    }
}

enum Link {
    /// QUIC or WebTransport: length-prefixed frames on one bidirectional stream, plus
    /// datagrams.
    Stream {
        send: Writer,
        readers: Readers,
        peer: Peer,
    },
    Ws(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
}

/// TLS 1.3 for QUIC that trusts only the certificate whose SHA-256 is `cert_sha256` (as
/// `serverCertificateHashes` does in browsers), offering the one protocol `alpn`.
pub fn pinned_tls(cert_sha256: [u8; 32], alpn: &[u8]) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCertificate {
        sha256: cert_sha256,
        provider: provider.clone(),
    });
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ClientError::Connect(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    Ok(tls)
}

/// A connection to a Plaza server.
pub struct Client {
    link: Link,
    /// The newest tick of motion applied; older motion datagrams are stale.
    newest_avatars: u64,
    /// How what arrives is read.
    inflow: Inflow,
}

impl Client {
    /// Connects over QUIC to `addr`, trusting the certificate whose SHA-256 is `cert_sha256`.
    pub async fn quic(addr: SocketAddr, cert_sha256: [u8; 32]) -> Result<Self, ClientError> {
        Self::quic_via(&Self::quic_endpoint(addr.is_ipv6())?, addr, cert_sha256).await
    }

    /// A QUIC client endpoint that many clients can share: one UDP socket and one receive
    /// buffer (about 2 MB in quinn) for all of them, instead of one each. Load tests with
    /// thousands of clients use a few.
    pub fn quic_endpoint(ipv6: bool) -> Result<Endpoint, ClientError> {
        let local: SocketAddr = if ipv6 { "[::]:0" } else { "0.0.0.0:0" }
            .parse()
            .expect("a wildcard address parses");
        Endpoint::client(local).map_err(|e| ClientError::Connect(e.to_string()))
    }

    /// Connects over QUIC through `endpoint` (see [`Client::quic_endpoint`]).
    pub async fn quic_via(
        endpoint: &Endpoint,
        addr: SocketAddr,
        cert_sha256: [u8; 32],
    ) -> Result<Self, ClientError> {
        let connect = |e: &dyn std::fmt::Display| ClientError::Connect(e.to_string());
        let tls = pinned_tls(cert_sha256, ALPN)?;
        let crypto = QuicClientConfig::try_from(tls).map_err(|e| connect(&e))?;
        let config = quinn::ClientConfig::new(Arc::new(crypto));
        let connection = endpoint
            .connect_with(config, addr, "localhost")
            .map_err(|e| connect(&e))?
            .await
            .map_err(|e| connect(&e))?;
        let (send, recv) = connection.open_bi().await.map_err(|e| connect(&e))?;
        let peer = Peer::Quic {
            _endpoint: endpoint.clone(),
            connection,
        };
        Ok(Self::over_stream(
            Box::new(send),
            Box::new(recv),
            peer,
            Codec::Postcard,
        ))
    }

    /// Connects over WebTransport to `https://addr/wt`, trusting the certificate whose
    /// SHA-256 is `cert_sha256` (as a browser does with `serverCertificateHashes`).
    pub async fn webtransport(
        addr: SocketAddr,
        cert_sha256: [u8; 32],
        codec: Codec,
    ) -> Result<Self, ClientError> {
        Self::webtransport_via(&Self::webtransport_endpoint(cert_sha256)?, addr, codec).await
    }

    /// A WebTransport client endpoint, trusting the certificate whose SHA-256 is
    /// `cert_sha256`, that many clients can share (as [`Client::quic_endpoint`]).
    pub fn webtransport_endpoint(
        cert_sha256: [u8; 32],
    ) -> Result<WebTransportEndpoint, ClientError> {
        let config = wtransport::ClientConfig::builder()
            .with_bind_default()
            .with_server_certificate_hashes([wtransport::tls::Sha256Digest::new(cert_sha256)])
            .build();
        wtransport::Endpoint::client(config)
            .map(Arc::new)
            .map_err(|e| ClientError::Connect(e.to_string()))
    }

    /// Connects over WebTransport through `endpoint` (see [`Client::webtransport_endpoint`]).
    pub async fn webtransport_via(
        endpoint: &WebTransportEndpoint,
        addr: SocketAddr,
        codec: Codec,
    ) -> Result<Self, ClientError> {
        let connect = |e: &dyn std::fmt::Display| ClientError::Connect(e.to_string());
        let query = if codec == Codec::Json {
            "?codec=json"
        } else {
            ""
        };
        let url = format!("https://{addr}/wt{query}");
        let connection = endpoint.connect(url).await.map_err(|e| connect(&e))?;
        let opening = connection.open_bi().await.map_err(|e| connect(&e))?;
        let (send, recv) = opening.await.map_err(|e| connect(&e))?;
        let peer = Peer::WebTransport {
            _endpoint: endpoint.clone(),
            connection,
        };
        Ok(Self::over_stream(
            Box::new(send),
            Box::new(recv),
            peer,
            codec,
        ))
    }

    /// A client on a stream transport's bidirectional stream and datagrams.
    fn over_stream(send: Writer, recv: Reader, peer: Peer, codec: Codec) -> Self {
        let readers = Readers::spawn(recv, &peer, MAX_SERVER_FRAME_BYTES);
        let link = Link::Stream {
            send,
            readers,
            peer,
        };
        Self {
            link,
            newest_avatars: 0,
            inflow: Inflow::new(codec),
        }
    }

    /// Connects over WebSocket to `ws://addr/ws` with `codec`.
    pub async fn websocket(addr: SocketAddr, codec: Codec) -> Result<Self, ClientError> {
        let query = if codec == Codec::Json {
            "?codec=json"
        } else {
            ""
        };
        // TCP_NODELAY: commands are small and must not wait for the previous one's ACK.
        let url = format!("ws://{addr}/ws{query}");
        // The same cap on what the server sends as on the stream transports.
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_SERVER_FRAME_BYTES))
            .max_frame_size(Some(MAX_SERVER_FRAME_BYTES));
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
            .await
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        Ok(Self {
            link: Link::Ws(Box::new(ws)),
            newest_avatars: 0,
            inflow: Inflow::new(codec),
        })
    }

    /// Payload bytes received so far, frames and datagrams.
    pub fn received_bytes(&self) -> u64 {
        self.inflow.received_bytes
    }

    /// The codec in use.
    pub fn codec(&self) -> Codec {
        self.inflow.codec
    }

    /// The QUIC connection, for tests that misbehave on purpose (extra streams).
    pub fn quic_connection(&self) -> Option<&Connection> {
        match &self.link {
            Link::Stream {
                peer: Peer::Quic { connection, .. },
                ..
            } => Some(connection),
            _ => None,
        }
    }

    /// Speaks protocol `version` from now on (1, or the current one); call it before the
    /// `hello`. Messages still come and go in the current version's types: what version 1
    /// lacks is dropped on the way out and left empty on the way in.
    pub fn speak_version(&mut self, version: u32) {
        self.inflow.version = version;
    }

    fn encode(&self, msg: &ClientMsg) -> Result<Vec<u8>, CodecError> {
        if self.inflow.version == 1 {
            return crate::v1::encode_client(self.inflow.codec, &crate::v1::client_msg(msg));
        }
        self.inflow.codec.encode_client(msg)
    }

    /// Sends a message.
    pub async fn send(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        let payload = self.encode(msg)?;
        self.send_payload(&payload).await
    }

    /// Sends an already encoded payload in the transport's framing (for tests of garbage).
    pub async fn send_payload(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        let io = |e: &dyn std::fmt::Display| ClientError::Io(e.to_string());
        match &mut self.link {
            Link::Stream { send, .. } => {
                let mut frame = framing::prefix(payload.len()).to_vec();
                frame.extend_from_slice(payload);
                send.write_all(&frame).await.map_err(|e| io(&e))
            }
            Link::Ws(ws) => {
                let message = if self.inflow.codec.is_text() {
                    Message::Text(String::from_utf8_lossy(payload).into_owned().into())
                } else {
                    Message::Binary(payload.to_vec().into())
                };
                ws.send(message).await.map_err(|e| io(&e))
            }
        }
    }

    /// Sends a message as one datagram (QUIC and WebTransport; unreliable, for poses).
    pub async fn send_datagram(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        let payload = self.encode(msg)?;
        self.send_raw_datagram(&payload)
    }

    /// Sends raw bytes as one datagram (for tests of garbage).
    pub fn send_raw_datagram(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        let io = |e: &dyn std::fmt::Display| ClientError::Io(e.to_string());
        let bytes = bytes::Bytes::copy_from_slice(payload);
        match &self.link {
            Link::Stream {
                peer: Peer::Quic { connection, .. },
                ..
            } => connection.send_datagram(bytes).map_err(|e| io(&e)),
            Link::Stream {
                peer: Peer::WebTransport { connection, .. },
                ..
            } => connection.send_datagram(bytes).map_err(|e| io(&e)),
            Link::Ws(_) => Err(ClientError::Io("WebSocket has no datagrams".into())),
        }
    }

    /// Writes raw bytes on the stream, outside any framing (for tests of truncated or lying
    /// frames). On WebSocket, sends them as one binary message.
    pub async fn send_raw_bytes(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let io = |e: &dyn std::fmt::Display| ClientError::Io(e.to_string());
        match &mut self.link {
            Link::Stream { send, .. } => send.write_all(bytes).await.map_err(|e| io(&e)),
            Link::Ws(ws) => ws
                .send(Message::Binary(bytes.to_vec().into()))
                .await
                .map_err(|e| io(&e)),
        }
    }

    /// Ends the sending side (streams: finished; WebSocket: a close frame).
    pub async fn finish(&mut self) -> Result<(), ClientError> {
        let io = |e: &dyn std::fmt::Display| ClientError::Io(e.to_string());
        match &mut self.link {
            Link::Stream { send, .. } => send.shutdown().await.map_err(|e| io(&e)),
            Link::Ws(ws) => SinkExt::close(ws.as_mut()).await.map_err(|e| io(&e)),
        }
    }

    /// The next message, or how the connection ended.
    pub async fn next(&mut self) -> Result<Received, ClientError> {
        match &mut self.link {
            Link::Stream { readers, peer, .. } => loop {
                let payload = match readers.rx.recv().await.unwrap_or(Inbound::End) {
                    Inbound::Frame(payload) => payload,
                    Inbound::Datagram(payload) => {
                        let msg = self.inflow.take(&payload)?;
                        if let ServerMsg::Motion { tick, .. } = msg {
                            // Datagrams arrive out of order: an older one is stale.
                            if tick < self.newest_avatars {
                                continue;
                            }
                            self.newest_avatars = tick;
                        }
                        return Ok(Received::Msg(msg));
                    }
                    Inbound::TooLarge(len) => {
                        return Err(ClientError::FrameTooLarge {
                            len,
                            max: MAX_SERVER_FRAME_BYTES,
                        });
                    }
                    Inbound::End => return Ok(Received::Closed(peer.closed().await)),
                };
                return Ok(Received::Msg(self.inflow.take(&payload)?));
            },
            Link::Ws(ws) => loop {
                let payload = match ws.next().await {
                    Some(Err(WsError::Capacity(CapacityError::MessageTooLong {
                        size,
                        max_size,
                    }))) => {
                        return Err(ClientError::FrameTooLarge {
                            len: size,
                            max: max_size,
                        });
                    }
                    None | Some(Err(_)) => return Ok(Received::Closed(None)),
                    Some(Ok(Message::Close(frame))) => {
                        let closed = frame.map(|f| Closed {
                            code: u16::from(f.code).into(),
                            reason: f.reason.to_string(),
                        });
                        return Ok(Received::Closed(closed));
                    }
                    Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                    Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                    Some(Ok(_)) => continue,
                };
                return Ok(Received::Msg(self.inflow.take(&payload)?));
            },
        }
    }
}

/// How a client speaks and reads: the protocol version and codec (both ways), what it
/// knows of the space for compact motion, and how many bytes came.
struct Inflow {
    /// The protocol version spoken (1, or [`crate::PROTOCOL_VERSION`], the default).
    version: u32,
    codec: Codec,
    /// What compact motion refers to.
    mirror: crate::mirror::Mirror,
    /// Payload bytes received so far (frames and datagrams).
    received_bytes: u64,
}

impl Inflow {
    fn new(codec: Codec) -> Self {
        Self {
            version: crate::PROTOCOL_VERSION,
            codec,
            mirror: crate::mirror::Mirror::default(),
            received_bytes: 0,
        }
    }

    /// Counts and decodes a server payload, resolving its compact motion.
    fn take(&mut self, payload: &[u8]) -> Result<ServerMsg, ClientError> {
        self.received_bytes += payload.len() as u64;
        if self.version == 1 {
            return Ok(crate::v1::decode_server(self.codec, payload)?.into());
        }
        let mut msg = self.codec.decode_server(payload)?;
        self.mirror.absorb(&mut msg)?;
        Ok(msg)
    }
}

impl Peer {
    /// The server's application close, waiting briefly for it to arrive.
    async fn closed(&self) -> Option<Closed> {
        let wait = std::time::Duration::from_secs(5);
        let closed = |code: u64, reason: &[u8]| Closed {
            code: u32::try_from(code).unwrap_or(u32::MAX),
            reason: String::from_utf8_lossy(reason).into_owned(),
        };
        match self {
            Peer::Quic { connection, .. } => {
                match tokio::time::timeout(wait, connection.closed()).await.ok()? {
                    quinn::ConnectionError::ApplicationClosed(close) => {
                        Some(closed(close.error_code.into_inner(), &close.reason))
                    }
                    _ => None,
                }
            }
            Peer::WebTransport { connection, .. } => {
                match tokio::time::timeout(wait, connection.closed()).await.ok()? {
                    wtransport::error::ConnectionError::ApplicationClosed(close) => {
                        Some(closed(close.code().into_inner(), close.reason()))
                    }
                    _ => None,
                }
            }
        }
    }
}

/// Trusts exactly one certificate, by its SHA-256; signatures are still verified.
#[derive(Debug)]
struct PinnedCertificate {
    sha256: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        if digest.as_ref() == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate hash does not match".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
