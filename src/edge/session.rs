//! One client connection, whatever carries it: the hello handshake (`hello`), the
//! per-connection guards (message rate, refusal strikes), translation of each frame into a
//! command for the tick thread, and the writer that sends queued frames and closes with a
//! reason.
//!
//! A transport supplies a [`FrameSource`] (decoded into payloads, with its own size and
//! frame-kind checks) and a [`FrameSink`]; everything else is here, once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use plaza_net::{ClientMsg, Codec, ErrorCode, ServerMsg};
use plaza_systems::{ConnId, Input, SessionMeta, Strikes, Transport};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::Edge;
use super::bridge::{Dialect, Frame, Refusal, command_from_wire, encode, request_of};
use super::conn::{CloseReason, CloseSignal, ConnHandle, DatagramSink, Envelope};
use super::hello::{Hello, handshake};
use super::live::LiveSession;
use super::rate::{KindBuckets, MessageKind, TokenBucket};
use super::resume::{Ending, TakenBack};
use crate::auth;
use crate::clock::now_ms;
use crate::telemetry::TransportCounters;

/// How long a closing connection may take to send what was queued before its close.
const CLOSE_DRAIN: Duration = Duration::from_secs(1);

/// What a transport read.
#[derive(Debug)]
pub enum Incoming {
    /// A message payload for the codec to decode.
    Data(Bytes),
    /// A frame the transport refused (too large, wrong kind).
    Refused(Refusal),
    /// Nothing for the session (transport-level pings).
    Skip,
    /// The transport cannot go on (a frame over the hard size limit): close for this reason.
    Close(CloseReason),
    /// The connection failed or went away without a word: its session may be held for the
    /// client to take back.
    End,
    /// The peer closed the connection on purpose (a WebSocket close frame): its session
    /// ends at once.
    Goodbye,
}

/// The reading half of a transport.
pub trait FrameSource: Send {
    /// The next frame.
    fn next(&mut self) -> impl Future<Output = Incoming> + Send;
    /// From now on, frames are in `codec` (the hello settled it; a WebSocket opened
    /// without `?codec=` takes either kind of frame until then).
    fn use_codec(&mut self, _codec: Codec) {}
}

/// The writing half of a transport.
pub trait FrameSink: Send + 'static {
    /// Sends one frame; an error means the connection is gone.
    fn send(&mut self, frame: Frame) -> impl Future<Output = Result<(), ()>> + Send;
    /// Closes with a reason (best effort).
    fn close(&mut self, reason: &CloseReason) -> impl Future<Output = ()> + Send;
    /// Asks the peer for a sign of life (a WebSocket ping), so that an idle client that is
    /// there is not taken for gone; transports with keepalives of their own do nothing.
    fn keepalive(&mut self) -> impl Future<Output = Result<(), ()>> + Send {
        async { Ok(()) }
    }
}

/// Runs a connection from hello to close.
pub async fn run<S: FrameSource, K: FrameSink>(
    mut source: S,
    mut sink: K,
    edge: Arc<Edge>,
    codec: Codec,
    mut meta: SessionMeta,
    datagrams: Option<Arc<dyn DatagramSink>>,
) {
    let deadline = Duration::from_millis(edge.config.handshake_timeout_ms);
    let mut first_codec = codec;
    let handshake = handshake(&mut source, &edge, codec, &mut first_codec);
    let mut hello = match tokio::time::timeout(deadline, handshake).await {
        Ok(Ok(hello)) => hello,
        Ok(Err(refusal)) => {
            return refuse_and_close(&mut sink, Dialect::current(first_codec), refusal).await;
        }
        Err(_) => {
            let message = format!("no hello within {} ms", edge.config.handshake_timeout_ms);
            let refusal = Refusal::new(ErrorCode::BadMessage, message);
            return refuse_and_close(&mut sink, Dialect::current(first_codec), refusal).await;
        }
    };
    source.use_codec(hello.dialect.codec);
    if let Some(visitor) = hello.visitor.take() {
        meta.visitor = Some(visitor);
    }
    let (tx, rx) = mpsc::channel(edge.config.outbound_queue_frames);
    // A token that is unknown, expired or another user's just makes a new session, which
    // the welcome says (`resumed: false`).
    let taken = match hello.resume.as_deref() {
        Some(token) => edge.take_back(token, hello.account.id).await,
        None => None,
    };
    let live = Live {
        conn: edge.next_conn(),
        session: taken.as_ref().map_or_else(Uuid::new_v4, TakenBack::session),
        user: hello.account.id,
        dialect: hello.dialect,
        tx,
        close: CloseSignal::default(),
        counters: edge.telemetry.transport(meta.transport),
        strikes: Strikes::new(edge.config.strike_policy()),
    };
    let transport = meta.transport;
    let resume_token = live.welcome(&edge, hello, meta, datagrams, taken);
    let writer = tokio::spawn(write_frames(
        sink,
        rx,
        live.close.clone(),
        edge.clone(),
        transport,
    ));
    let client_ended = tokio::select! {
        () = read_commands(&mut source, &edge, &live) => {
            // Ended by the client (or the network) unless the server had decided to close.
            let client_ended = live.close.reason().is_none();
            live.close.close(CloseReason::policy("client closed the connection"));
            client_ended
        }
        _ = live.close.closed() => false,
    };
    match edge
        .resumable
        .end(resume_token.as_deref(), live.conn, client_ended)
    {
        Ending::Disconnect => {
            edge.submit(Envelope::Input(Input::Disconnect { conn: live.conn }));
            edge.sessions.remove(live.session);
        }
        Ending::Hold { until_ms } => {
            edge.submit(Envelope::Input(Input::Suspend {
                conn: live.conn,
                until_ms,
            }));
            edge.sessions.remove(live.session);
        }
        // Taken back on a new connection, which owns the session now.
        Ending::Moved => {}
    }
    let counters = live.counters;
    drop(live);
    let _ = writer.await;
    counters.open.fetch_sub(1, Ordering::Relaxed);
}

/// A connection past its hello.
struct Live<'a> {
    conn: ConnId,
    session: Uuid,
    user: Uuid,
    dialect: Dialect,
    /// Its outbound queue (the writer task holds the other end).
    tx: mpsc::Sender<Frame>,
    close: CloseSignal,
    counters: &'a TransportCounters,
    /// Refusals, counted here and by the world together.
    strikes: Strikes,
}

impl Live<'_> {
    /// Sends `welcome` (first in the queue), registers the session's token, and hands the
    /// connection to the tick thread: a new session, or the one `taken` back. Returns the
    /// session's resume token.
    fn welcome(
        &self,
        edge: &Edge,
        hello: Hello,
        meta: SessionMeta,
        datagrams: Option<Arc<dyn DatagramSink>>,
        taken: Option<TakenBack>,
    ) -> Option<String> {
        let (token, token_hash) = auth::new_token();
        let account = hello.account;
        let started_ms = taken.as_ref().map_or_else(now_ms, TakenBack::started_ms);
        let resume = edge.resumable.issue(
            self.session,
            account.id,
            self.conn,
            started_ms,
            self.close.clone(),
        );
        let welcome = ServerMsg::Welcome {
            session: self.session,
            user: account.id,
            protocol: self.dialect.version,
            codec: self.dialect.codec,
            tick_rate: edge.config.tick_rate_hz,
            name: account.name.to_string(),
            registered: account.registered,
            token,
            guest_secret: hello.guest_secret,
            resume: resume.clone(),
            resume_grace_secs: u32::try_from(edge.resumable.grace().as_secs()).unwrap_or(u32::MAX),
            // A session that had been sent elsewhere is in no space: its client joins again.
            resumed: matches!(taken, Some(TakenBack::Here(t)) if !t.sent_elsewhere),
        };
        edge.sessions.insert(
            token_hash,
            LiveSession {
                session: self.session,
                account: account.clone(),
                transport: meta.transport,
                client_addr: meta.client_addr,
                user_agent: meta.user_agent.clone(),
                started_ms,
                close: self.close.clone(),
            },
        );
        // The queue is new and holds at least 8 frames, so the welcome fits and goes first.
        let _ = self.tx.try_send(encode(self.dialect, &welcome));
        self.counters.open.fetch_add(1, Ordering::Relaxed);
        self.counters.opened.fetch_add(1, Ordering::Relaxed);
        edge.submit(Envelope::Register {
            conn: self.conn,
            handle: ConnHandle {
                dialect: self.dialect,
                tx: self.tx.clone(),
                close: self.close.clone(),
                datagrams,
                transport: meta.transport,
            },
            input: match taken {
                Some(TakenBack::Here(taken)) => Input::Resume {
                    from: taken.from,
                    conn: self.conn,
                    strikes: self.strikes.clone(),
                },
                continued => Input::Connect {
                    conn: self.conn,
                    session: self.session,
                    user: account.id,
                    name: account.name,
                    admin: account.admin,
                    meta,
                    strikes: self.strikes.clone(),
                    continued_from_ms: continued.map(|c| c.started_ms()),
                },
            },
        });
        resume
    }

    /// Queues a reply. A full queue means the client is not reading; the tick thread
    /// closes it as too slow.
    fn reply(&self, msg: &ServerMsg) {
        let _ = self.tx.try_send(encode(self.dialect, msg));
    }
}

async fn refuse_and_close<K: FrameSink>(sink: &mut K, dialect: Dialect, refusal: Refusal) {
    let _ = sink.send(encode(dialect, &refusal.to_msg())).await;
    sink.close(&CloseReason::policy(refusal.message)).await;
}

/// Reads frames until the client closes or is closed for abuse.
async fn read_commands<S: FrameSource>(source: &mut S, edge: &Edge, live: &Live<'_>) {
    let config = &edge.config;
    let mut bucket = TokenBucket::new(
        config.client_messages_per_sec,
        config.client_message_burst,
        Instant::now(),
    );
    let mut kinds = KindBuckets::new(&config.message_rates, Instant::now());
    loop {
        let incoming = source.next().await;
        if let Incoming::Data(payload) = &incoming {
            live.counters.messages_in.fetch_add(1, Ordering::Relaxed);
            live.counters
                .bytes_in
                .fetch_add(payload.len() as u64, Ordering::Relaxed);
        }
        let result = match incoming {
            Incoming::Data(_) if !bucket.take(Instant::now()) => Err(Refusal::new(
                ErrorCode::RateLimited,
                "too many messages; slow down",
            )),
            Incoming::Data(payload) => handle(&payload, edge, live, &mut kinds),
            Incoming::Refused(refusal) => Err(refusal),
            Incoming::Skip => Ok(()),
            Incoming::End => return,
            Incoming::Goodbye => {
                live.close
                    .close(CloseReason::policy("the client said goodbye"));
                return;
            }
            Incoming::Close(reason) => {
                if reason.code == CloseReason::TOO_BIG {
                    live.reply(&Refusal::new(ErrorCode::TooLarge, reason.text.clone()).to_msg());
                }
                live.close.close(reason);
                return;
            }
        };
        if let Err(refusal) = result {
            if refusal.code == ErrorCode::RateLimited {
                edge.rate_limited.fetch_add(1, Ordering::Relaxed);
            }
            live.reply(&refusal.to_msg());
            if live.strikes.hit(now_ms()) {
                live.close.close(CloseReason::policy(live.strikes.reason()));
                return;
            }
        }
    }
}

/// Decodes one payload and checks its rates; answers `ping` at once and queues anything
/// else for the tick. `kinds` are the connection's per-kind buckets.
fn handle(
    payload: &[u8],
    edge: &Edge,
    live: &Live<'_>,
    kinds: &mut KindBuckets,
) -> Result<(), Refusal> {
    let Dialect { version, codec } = live.dialect;
    let msg = codec
        .decode_client_in(version, payload)
        .map_err(|e| Refusal::new(ErrorCode::BadMessage, e.to_string()))?;
    let request = request_of(&msg);
    if let Some(kind) = MessageKind::of(&msg) {
        let now = Instant::now();
        let over = match kind {
            MessageKind::Chat => {
                (!edge.chat_limit.take(live.user, now)).then(|| edge.chat_limit.rate())
            }
            _ => kinds.take(kind, now).err(),
        };
        if let Some(rate) = over {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "too many {} messages: at most {}/s (bursts of {}); slow down",
                    kind.name(),
                    rate.per_sec,
                    rate.burst
                ),
            )
            .answering(request));
        }
    }
    if let ClientMsg::Ping { t } = msg {
        let tick = edge
            .tick_stats
            .tick
            .load(std::sync::atomic::Ordering::Relaxed);
        live.reply(&ServerMsg::Pong { t, tick });
        return Ok(());
    }
    let command = command_from_wire(msg, &edge.limits).map_err(|r| r.answering(request))?;
    if edge.submit_command(live.conn, request, command).is_err() {
        // The server is overloaded, not the client misbehaving: no strike.
        let busy = Refusal::new(
            ErrorCode::RateLimited,
            "the server is busy; the message was dropped, retry shortly",
        );
        live.reply(&busy.answering(request).to_msg());
    }
    Ok(())
}

/// Writes queued frames until the queue ends or a close is asked for; on close, sends what
/// was already queued (for at most [`CLOSE_DRAIN`]) and then closes with the reason. A frame
/// (or keepalive) the client does not take within `write_timeout_ms` closes it as too slow,
/// so a client that stops reading cannot hold its connection.
async fn write_frames<K: FrameSink>(
    mut sink: K,
    mut rx: mpsc::Receiver<Frame>,
    close: CloseSignal,
    edge: Arc<Edge>,
    transport: Transport,
) {
    let counters = edge.telemetry.transport(transport);
    let count = |frame: &Frame| {
        counters.messages_out.fetch_add(1, Ordering::Relaxed);
        counters
            .bytes_out
            .fetch_add(frame.bytes.len() as u64, Ordering::Relaxed);
    };
    let write_timeout = Duration::from_millis(edge.config.write_timeout_ms);
    let too_slow = || {
        edge.tick_stats
            .slow_disconnects
            .fetch_add(1, Ordering::Relaxed);
        close.close(CloseReason::policy(format!(
            "too slow: a message waited {} ms to be written",
            edge.config.write_timeout_ms
        )));
    };
    let every = Duration::from_millis(edge.config.ws_idle_timeout_ms / 3);
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            biased;
            reason = close.closed() => {
                let _ = tokio::time::timeout(CLOSE_DRAIN, async {
                    while let Ok(frame) = rx.try_recv() {
                        count(&frame);
                        if sink.send(frame).await.is_err() {
                            return;
                        }
                    }
                })
                .await;
                let _ = tokio::time::timeout(CLOSE_DRAIN, sink.close(&reason)).await;
                return;
            }
            frame = rx.recv() => match frame {
                Some(frame) => {
                    count(&frame);
                    match tokio::time::timeout(write_timeout, sink.send(frame)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(())) => {
                            close.close(CloseReason::policy("connection lost"));
                            return;
                        }
                        Err(_) => too_slow(),
                    }
                }
                None => return,
            },
            _ = keepalive.tick() => {
                match tokio::time::timeout(write_timeout, sink.keepalive()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(())) => {
                        close.close(CloseReason::policy("connection lost"));
                        return;
                    }
                    Err(_) => too_slow(),
                }
            }
        }
    }
}
