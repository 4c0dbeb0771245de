//! Sessions on a stream transport (QUIC, WebTransport): one bidirectional stream of
//! length-prefixed frames ([`plaza_net::framing`]) plus datagrams. The two transports
//! differ only in how a connection gives its streams and datagrams ([`StreamConnection`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use plaza_net::ErrorCode;
use plaza_net::framing::{self, FrameRead};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::edge::Edge;
use crate::edge::bridge::{Frame, Refusal};
use crate::edge::conn::{CloseReason, DatagramSink};
use crate::edge::session::{FrameSink, FrameSource, Incoming};
use crate::edge::slots::Slot;

/// How a transport ends its sending stream `W` and its connection.
pub(crate) trait StreamEnd<W>: Send + 'static {
    /// Finishes `send` and waits until the peer has what was sent.
    fn finish(&self, send: &mut W) -> impl Future<Output = ()> + Send;
    /// Closes the connection with an application code and reason.
    fn close_connection(&self, code: u32, reason: &[u8]);
}

/// Input of a stream transport: frames read from its stream by a task of their own, and
/// datagrams the transport feeds in, in arrival order. The tasks end with this value.
pub(crate) struct FramedSource {
    rx: mpsc::Receiver<Incoming>,
    tx: mpsc::Sender<Incoming>,
    tasks: Vec<JoinHandle<()>>,
}

/// Frames or datagrams read ahead of the session before the readers wait.
const READ_AHEAD: usize = 64;

impl FramedSource {
    /// Reads frames of at most `max` bytes from `recv`; frames up to `hard` bytes are
    /// skipped and refused, a longer length prefix closes the connection (1009: the stream
    /// cannot be resynchronised cheaply).
    pub fn spawn<R: AsyncRead + Unpin + Send + 'static>(
        mut recv: R,
        max: usize,
        hard: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        let frames = tx.clone();
        let reader = tokio::spawn(async move {
            loop {
                let incoming = read_incoming(&mut recv, max, hard).await;
                let end = matches!(
                    incoming,
                    Incoming::End | Incoming::Goodbye | Incoming::Close(_)
                );
                if frames.send(incoming).await.is_err() || end {
                    return;
                }
            }
        });
        Self {
            rx,
            tx,
            tasks: vec![reader],
        }
    }

    /// Also takes datagrams: `next_datagram` gives the next one, or `None` when the
    /// connection ends. Each is a whole message, decoded like a frame.
    pub(crate) fn take_datagrams<F, Fut>(&mut self, mut next_datagram: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Option<Bytes>> + Send,
    {
        let datagrams = self.tx.clone();
        self.tasks.push(tokio::spawn(async move {
            while let Some(payload) = next_datagram().await {
                if datagrams.send(Incoming::Data(payload)).await.is_err() {
                    return;
                }
            }
        }));
    }
}

impl Drop for FramedSource {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl FrameSource for FramedSource {
    async fn next(&mut self) -> Incoming {
        self.rx.recv().await.unwrap_or(Incoming::End)
    }
}

/// Reads one frame as the session takes it: a frame over `max` is refused with
/// `too_large` (and skipped); a length prefix over `hard` closes the connection (1009: the
/// stream cannot be resynchronised cheaply).
pub(crate) async fn read_incoming<R: AsyncRead + Unpin>(
    recv: &mut R,
    max: usize,
    hard: usize,
) -> Incoming {
    match framing::read_frame(recv, max, hard).await {
        FrameRead::Frame(payload) => Incoming::Data(payload),
        FrameRead::Skipped { len } => Incoming::Refused(Refusal::new(
            ErrorCode::TooLarge,
            format!("frame of {len} bytes is over the limit of {max}"),
        )),
        FrameRead::Oversized { len } => Incoming::Close(CloseReason::too_big(format!(
            "frame of {len} bytes is over the hard limit of {hard}"
        ))),
        FrameRead::End => Incoming::End,
        FrameRead::Finished => Incoming::Goodbye,
    }
}

/// Writes frames to a stream and closes through its transport.
pub(crate) struct FramedSink<W, E> {
    send: W,
    end: E,
}

impl<W, E> FramedSink<W, E> {
    /// Frames onto `send`; `end` finishes and closes.
    pub fn new(send: W, end: E) -> Self {
        Self { send, end }
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static, E: StreamEnd<W>> FrameSink for FramedSink<W, E> {
    async fn send(&mut self, frame: Frame) -> Result<(), ()> {
        framing::write_frame(&mut self.send, &frame.bytes)
            .await
            .map_err(|_| ())
    }

    async fn close(&mut self, reason: &CloseReason) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.end.finish(&mut self.send)).await;
        let text: String = reason.text.chars().take(120).collect();
        self.end
            .close_connection(u32::from(reason.code), text.as_bytes());
    }
}

/// A connection that carries a session on a bidirectional stream, plus datagrams: a quinn
/// QUIC connection or a wtransport WebTransport session.
pub(crate) trait StreamConnection: Clone + Send + Sync + 'static {
    /// Its sending stream.
    type Send: AsyncWrite + Unpin + Send + 'static;
    /// Its receiving stream.
    type Recv: AsyncRead + Unpin + Send + 'static;
    /// The next bidirectional stream the peer opens; `None` once the connection ends.
    fn accept_bi(&self) -> impl Future<Output = Option<(Self::Send, Self::Recv)>> + Send;
    /// The next datagram; `None` once the connection ends.
    fn read_datagram(&self) -> impl Future<Output = Option<Bytes>> + Send;
    /// Sends a datagram without waiting; false if it could not be (the peer takes no
    /// datagrams, or it is larger than the peer's limit).
    fn send_datagram(&self, payload: Bytes) -> bool;
    /// The largest datagram the peer takes now; `None` if it takes none.
    fn max_datagram_size(&self) -> Option<usize>;
    /// Finishes `send` and waits until the peer has what was sent.
    fn finish(send: &mut Self::Send) -> impl Future<Output = ()> + Send;
    /// Closes with an application code and reason.
    fn close(&self, code: u32, reason: &[u8]);
}

/// Whether a QUIC or WebTransport handshake from `addr` may go on: within
/// `connections_per_addr` (a refusal is counted in `rate_limited`) and with a connection
/// slot, which it then holds. `None` if not; the caller refuses the handshake.
pub(crate) fn admit(edge: &Edge, addr: std::net::IpAddr) -> Option<Slot> {
    if !edge.admit_connection(addr) {
        return None;
    }
    edge.slots.take(addr).ok()
}

/// Close code for a client that opened more streams than allowed.
pub(crate) const TOO_MANY_STREAMS: u32 = 4001;
/// Close code for a client that opened no stream within the handshake deadline.
pub(crate) const NO_STREAM: u32 = 4002;

/// Runs a session on an accepted connection: waits (up to the handshake deadline) for the
/// client's stream, refuses streams past `quic_max_streams`, and feeds its datagrams in.
pub(crate) async fn serve_connection<C: StreamConnection>(
    connection: C,
    edge: Arc<Edge>,
    codec: plaza_net::Codec,
    meta: plaza_systems::SessionMeta,
) {
    let deadline = Duration::from_millis(edge.config.handshake_timeout_ms);
    let Ok(Some((send, recv))) = tokio::time::timeout(deadline, connection.accept_bi()).await
    else {
        connection.close(NO_STREAM, b"no stream opened within the handshake deadline");
        return;
    };
    let guard = tokio::spawn(refuse_extra_streams(
        connection.clone(),
        edge.config.quic_max_streams,
    ));
    let mut source = FramedSource::spawn(
        recv,
        edge.config.max_frame_bytes,
        edge.config.hard_frame_bytes(),
    );
    let incoming = connection.clone();
    source.take_datagrams(move || {
        let connection = incoming.clone();
        async move { connection.read_datagram().await }
    });
    let datagrams: Arc<dyn DatagramSink> = Arc::new(Datagrams::new(connection.clone()));
    let sink = FramedSink::new(send, End(connection));
    crate::edge::session::run(source, sink, edge, codec, meta, Some(datagrams)).await;
    guard.abort();
}

/// Streams beyond the first are not used; past `max` in all, the connection is closed.
async fn refuse_extra_streams<C: StreamConnection>(connection: C, max: u32) {
    let mut opened = 1;
    while let Some((mut send, _)) = connection.accept_bi().await {
        opened += 1;
        if opened > max {
            let reason = format!("too many streams: at most {max} per connection");
            connection.close(TOO_MANY_STREAMS, reason.as_bytes());
            return;
        }
        C::finish(&mut send).await;
    }
}

/// Sends between two readings of a connection's datagram limit: path MTU discovery
/// raises it as the connection lives, and reading it takes the connection's lock.
const SENDS_PER_LIMIT_READING: u32 = 64;

/// The datagrams of a stream connection, with its datagram limit as last read.
struct Datagrams<C> {
    connection: C,
    limit: AtomicUsize,
    sends: AtomicU32,
}

impl<C: StreamConnection> Datagrams<C> {
    fn new(connection: C) -> Self {
        let limit = connection.max_datagram_size().unwrap_or(0);
        Self {
            connection,
            limit: AtomicUsize::new(limit),
            sends: AtomicU32::new(0),
        }
    }
}

impl<C> std::fmt::Debug for Datagrams<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datagrams")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<C: StreamConnection> DatagramSink for Datagrams<C> {
    fn send(&self, payload: Bytes) -> bool {
        let sent = self.connection.send_datagram(payload);
        let sends = self.sends.fetch_add(1, Ordering::Relaxed);
        if !sent || sends.is_multiple_of(SENDS_PER_LIMIT_READING) {
            let limit = self.connection.max_datagram_size().unwrap_or(0);
            self.limit.store(limit, Ordering::Relaxed);
        }
        sent
    }

    fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }
}

/// Finishing the stream and closing the connection.
struct End<C>(C);

impl<C: StreamConnection> StreamEnd<C::Send> for End<C> {
    async fn finish(&self, send: &mut C::Send) {
        C::finish(send).await;
    }

    fn close_connection(&self, code: u32, reason: &[u8]) {
        self.0.close(code, reason);
    }
}
