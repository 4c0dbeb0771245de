//! One client connection, whatever carries it: the hello handshake, the per-connection
//! guards (message rate, refusal strikes), translation of each frame into a command for the
//! tick thread, and the writer that sends queued frames and closes with a reason.
//!
//! A transport supplies a [`FrameSource`] (decoded into payloads, with its own size and
//! frame-kind checks) and a [`FrameSink`]; everything else is here, once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use plaza_net::{ClientMsg, Codec, ErrorCode, PROTOCOL_VERSION, ServerMsg};
use plaza_systems::{ConnId, Input, SessionMeta};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::auth::{self, Account, LiveSession};
use crate::bridge::{Frame, Refusal, check_name, command_from_wire, encode};
use crate::conn::{CloseReason, CloseSignal, ConnHandle, DatagramSink, Envelope};
use crate::edge::Edge;
use crate::rate::{KindBuckets, MessageKind, StrikeCounter, TokenBucket};
use crate::store::StoreError;
use crate::store::accounts::GuestHello;
use crate::store::now_ms;
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
    /// The peer closed, or the connection failed.
    End,
}

/// The reading half of a transport.
pub trait FrameSource: Send {
    /// The next frame.
    fn next(&mut self) -> impl Future<Output = Incoming> + Send;
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
    let hello = match tokio::time::timeout(deadline, handshake(&mut source, &edge, codec)).await {
        Ok(Ok(hello)) => hello,
        Ok(Err(refusal)) => return refuse_and_close(&mut sink, codec, refusal).await,
        Err(_) => {
            let message = format!("no hello within {} ms", edge.config.handshake_timeout_ms);
            let refusal = Refusal {
                code: ErrorCode::BadMessage,
                message,
            };
            return refuse_and_close(&mut sink, codec, refusal).await;
        }
    };

    let conn = edge.next_conn();
    let session = Uuid::new_v4();
    let (tx, rx) = mpsc::channel(edge.config.outbound_queue_frames);
    let close = CloseSignal::default();
    let (token, token_hash) = auth::new_token();
    let account = hello.account;
    let guest_secret = hello.guest_secret;
    let user = account.id;
    if hello.visitor.is_some() {
        meta.visitor = hello.visitor;
    }
    let welcome = ServerMsg::Welcome {
        session,
        user: account.id,
        protocol: PROTOCOL_VERSION,
        tick_rate: edge.config.tick_rate_hz,
        name: account.name.to_string(),
        registered: account.registered,
        token,
        guest_secret,
    };
    edge.sessions.insert(
        token_hash,
        LiveSession {
            session,
            account: account.clone(),
            transport: meta.transport,
            client_addr: meta.client_addr,
            user_agent: meta.user_agent.clone(),
            started_ms: now_ms(),
            close: close.clone(),
        },
    );
    // The queue is new and holds at least 8 frames, so the welcome always fits and goes first.
    let _ = tx.try_send(encode(codec, &welcome));
    let transport = meta.transport;
    let counters = edge.telemetry.transport(transport);
    counters.open.fetch_add(1, Ordering::Relaxed);
    counters.opened.fetch_add(1, Ordering::Relaxed);
    edge.submit(Envelope::Register {
        conn,
        handle: ConnHandle {
            codec,
            tx: tx.clone(),
            close: close.clone(),
            datagrams,
            transport,
        },
        input: Input::Connect {
            conn,
            session,
            user: account.id,
            name: account.name,
            admin: account.admin,
            meta,
        },
    });

    let writer = tokio::spawn(write_frames(
        sink,
        rx,
        close.clone(),
        edge.clone(),
        transport,
    ));
    tokio::select! {
        () = read_commands(&mut source, &edge, (conn, user), codec, &tx, &close, counters) => {
            close.close(CloseReason::policy("client closed the connection"));
        }
        _ = close.closed() => {}
    }
    edge.submit(Envelope::Input(Input::Disconnect { conn }));
    edge.sessions.remove(session);
    drop(tx);
    let _ = writer.await;
    counters.open.fetch_sub(1, Ordering::Relaxed);
}

struct Hello {
    account: Account,
    visitor: Option<Arc<str>>,
    /// A new guest's secret, for its welcome.
    guest_secret: Option<String>,
}

/// Reads the first message, which must be a `hello` of our protocol with a valid token, or
/// a guest name: new, or presented with its secret. A guest may not use a registered
/// user's name, nor another guest's.
async fn handshake<S: FrameSource>(
    source: &mut S,
    edge: &Edge,
    codec: Codec,
) -> Result<Hello, Refusal> {
    let closed = || Refusal {
        code: ErrorCode::BadMessage,
        message: "closed before hello".into(),
    };
    let payload = loop {
        match source.next().await {
            Incoming::Data(payload) => break payload,
            Incoming::Refused(refusal) => return Err(refusal),
            Incoming::Skip => continue,
            Incoming::End => return Err(closed()),
            Incoming::Close(reason) => {
                return Err(Refusal {
                    code: ErrorCode::TooLarge,
                    message: reason.text,
                });
            }
        }
    };
    let msg = codec.decode_client(&payload).map_err(|e| Refusal {
        code: ErrorCode::BadMessage,
        message: e.to_string(),
    })?;
    let ClientMsg::Hello {
        protocol,
        name,
        token,
        visitor,
        secret,
    } = msg
    else {
        let message = "the first message must be hello".into();
        return Err(Refusal {
            code: ErrorCode::BadMessage,
            message,
        });
    };
    if protocol != PROTOCOL_VERSION {
        return Err(Refusal {
            code: ErrorCode::ProtocolMismatch,
            message: format!(
                "this server speaks protocol {PROTOCOL_VERSION}; the client sent {protocol}"
            ),
        });
    }
    let visitor = visitor.as_deref().map(check_visitor).transpose()?;
    let unavailable = |error: StoreError| {
        tracing::warn!(%error, "cannot read users at hello");
        Refusal {
            code: ErrorCode::Unavailable,
            message: "the user store is unavailable; retry later".into(),
        }
    };
    let unauthorized = |message: String| Refusal {
        code: ErrorCode::Unauthorized,
        message,
    };
    if let Some(token) = token {
        let account = edge
            .account_for_token(&token)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                unauthorized(
                    "the token is unknown or expired; log in again (POST /api/login)".into(),
                )
            })?;
        return Ok(Hello {
            account,
            visitor,
            guest_secret: None,
        });
    }
    let name = check_name("name", &name, edge.config.max_name_chars)?;
    let presented = auth::secret_hash(secret.as_deref());
    let (fresh, fresh_hash) = auth::new_token();
    let outcome = edge
        .store
        .durable
        .guest_hello(&name, presented.as_ref(), &fresh_hash, now_ms())
        .await
        .map_err(unavailable)?;
    match outcome {
        GuestHello::New(account) => Ok(Hello {
            account,
            visitor,
            guest_secret: Some(fresh),
        }),
        GuestHello::Returning(account) => Ok(Hello {
            account,
            visitor,
            guest_secret: None,
        }),
        GuestHello::Registered => Err(unauthorized(format!(
            "{name:?} is a registered user: log in (POST /api/login) and send the token in hello"
        ))),
        GuestHello::Taken => Err(unauthorized(format!(
            "the guest name {name:?} is taken: send its secret (welcome.guest_secret of its first hello) in hello, or choose another name"
        ))),
    }
}

/// Checks an anonymous visitor id: 8 to 128 characters of `[A-Za-z0-9_-]`.
pub fn check_visitor(visitor: &str) -> Result<Arc<str>, Refusal> {
    let valid = (8..=128).contains(&visitor.len())
        && visitor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(Arc::from(visitor))
    } else {
        Err(Refusal {
            code: ErrorCode::BadMessage,
            message: "visitor must be 8 to 128 characters of A-Z, a-z, 0-9, - and _".into(),
        })
    }
}

async fn refuse_and_close<K: FrameSink>(sink: &mut K, codec: Codec, refusal: Refusal) {
    let _ = sink.send(encode(codec, &refusal.to_msg())).await;
    sink.close(&CloseReason::policy(refusal.message)).await;
}

/// Reads frames until the client closes or is closed for abuse.
async fn read_commands<S: FrameSource>(
    source: &mut S,
    edge: &Edge,
    (conn, user): (ConnId, Uuid),
    codec: Codec,
    tx: &mpsc::Sender<Frame>,
    close: &CloseSignal,
    counters: &TransportCounters,
) {
    let config = &edge.config;
    let mut bucket = TokenBucket::new(
        config.client_messages_per_sec,
        config.client_message_burst,
        Instant::now(),
    );
    let window = Duration::from_secs(config.strike_window_secs);
    let mut strikes = StrikeCounter::new(config.max_strikes, window, Instant::now());
    let mut kinds = KindBuckets::new(&config.message_rates, Instant::now());
    let reply = |msg: &ServerMsg| {
        // A full queue means the client is not reading; the tick thread closes it as too slow.
        let _ = tx.try_send(encode(codec, msg));
    };
    loop {
        let incoming = source.next().await;
        if let Incoming::Data(payload) = &incoming {
            counters.messages_in.fetch_add(1, Ordering::Relaxed);
            counters
                .bytes_in
                .fetch_add(payload.len() as u64, Ordering::Relaxed);
        }
        let result = match incoming {
            Incoming::Data(_) if !bucket.take(Instant::now()) => Err(Refusal {
                code: ErrorCode::RateLimited,
                message: "too many messages; slow down".into(),
            }),
            Incoming::Data(payload) => {
                let guards = Guards {
                    conn,
                    user,
                    kinds: &mut kinds,
                };
                handle(&payload, edge, guards, codec, &reply)
            }
            Incoming::Refused(refusal) => Err(refusal),
            Incoming::Skip => Ok(()),
            Incoming::End => return,
            Incoming::Close(reason) => {
                if reason.code == CloseReason::TOO_BIG {
                    reply(&ServerMsg::Error {
                        code: ErrorCode::TooLarge,
                        message: reason.text.clone(),
                    });
                }
                close.close(reason);
                return;
            }
        };
        if let Err(refusal) = result {
            if refusal.code == ErrorCode::RateLimited {
                edge.rate_limited.fetch_add(1, Ordering::Relaxed);
            }
            reply(&refusal.to_msg());
            if strikes.hit(Instant::now()) {
                close.close(CloseReason::policy(format!(
                    "closed after more than {} refused messages within {} s",
                    config.max_strikes, config.strike_window_secs
                )));
                return;
            }
        }
    }
}

/// Who sent a message, and their per-kind buckets.
struct Guards<'a> {
    conn: ConnId,
    user: Uuid,
    kinds: &'a mut KindBuckets,
}

fn handle(
    payload: &[u8],
    edge: &Edge,
    guards: Guards<'_>,
    codec: Codec,
    reply: &impl Fn(&ServerMsg),
) -> Result<(), Refusal> {
    let conn = guards.conn;
    let msg = codec.decode_client(payload).map_err(|e| Refusal {
        code: ErrorCode::BadMessage,
        message: e.to_string(),
    })?;
    if let Some(kind) = MessageKind::of(&msg) {
        let now = Instant::now();
        let over = match kind {
            MessageKind::Chat => {
                (!edge.chat_limit.take(guards.user, now)).then(|| edge.chat_limit.rate())
            }
            _ => guards.kinds.take(kind, now).err(),
        };
        if let Some(rate) = over {
            return Err(Refusal {
                code: ErrorCode::RateLimited,
                message: format!(
                    "too many {} messages: at most {}/s (bursts of {}); slow down",
                    kind.name(),
                    rate.per_sec,
                    rate.burst
                ),
            });
        }
    }
    if let ClientMsg::Ping { t } = msg {
        let tick = edge
            .tick_stats
            .tick
            .load(std::sync::atomic::Ordering::Relaxed);
        reply(&ServerMsg::Pong { t, tick });
        return Ok(());
    }
    let command = command_from_wire(msg, &edge.limits)?;
    if edge.submit_command(conn, command).is_err() {
        // The server is overloaded, not the client misbehaving: no strike.
        reply(&ServerMsg::Error {
            code: ErrorCode::RateLimited,
            message: "the server is busy; the message was dropped, retry shortly".into(),
        });
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
    transport: &'static str,
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
