//! The WebSocket transport at `/ws`: binary postcard frames, or JSON text frames with
//! `?codec=json`. One task reads and one writes per connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use plaza_net::{ClientMsg, Codec, ErrorCode, PROTOCOL_VERSION, ServerMsg};
use plaza_systems::{ConnId, Input, SessionMeta};
use serde::Deserialize;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::bridge::{Frame, Refusal, check_name, command_from_wire, encode};
use crate::conn::{CloseReason, CloseSignal, ConnHandle, Envelope};
use crate::edge::Edge;
use crate::rate::{StrikeCounter, TokenBucket};
use crate::store::now_ms;

/// Frames up to this many times `max_frame_bytes` are read and refused with `too_large`;
/// bigger ones end the connection in the WebSocket layer (close code 1009).
const HARD_FRAME_FACTOR: usize = 4;
/// How long a closing connection may take to send what was queued before its close frame.
const CLOSE_DRAIN: Duration = Duration::from_secs(1);

/// Query string of `/ws`.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    codec: Option<String>,
}

/// `GET /ws`: upgrades to a WebSocket if the codec is known and a connection slot is free.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    Query(query): Query<WsQuery>,
    State(edge): State<Arc<Edge>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(codec) = Codec::from_query(query.codec.as_deref()) else {
        return (
            StatusCode::BAD_REQUEST,
            "codec must be \"postcard\" or \"json\"",
        )
            .into_response();
    };
    let Ok(permit) = edge.permits.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "server is at max_connections; retry later",
        )
            .into_response();
    };
    let hard_limit = edge.config.max_frame_bytes * HARD_FRAME_FACTOR;
    ws.max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .on_upgrade(move |socket| async move {
            let user_agent = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|v| Arc::from(v.chars().take(512).collect::<String>()));
            let meta = SessionMeta {
                transport: "ws",
                client_addr: Some(peer.ip()),
                user_agent,
            };
            run(socket, edge, codec, meta).await;
            drop(permit);
        })
}

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

fn to_message(frame: Frame) -> Message {
    if frame.text {
        Message::Text(
            Utf8Bytes::try_from(frame.bytes).expect("text frames hold JSON, which is UTF-8"),
        )
    } else {
        Message::Binary(frame.bytes)
    }
}

fn close_message(reason: &CloseReason) -> Message {
    let mut text = reason.text.clone();
    // A close frame's reason is at most 123 bytes.
    while text.len() > 120 {
        text.pop();
    }
    Message::Close(Some(CloseFrame {
        code: reason.code,
        reason: text.into(),
    }))
}

/// The payload of a data frame of the connection's codec, or why it is refused.
enum Incoming {
    Data(Bytes),
    Refused(Refusal),
    Skip,
    End,
}

fn classify(message: Result<Message, axum::Error>, codec: Codec, max: usize) -> Incoming {
    let payload = match message {
        Ok(Message::Binary(bytes)) if !codec.is_text() => bytes,
        Ok(Message::Text(text)) if codec.is_text() => Bytes::from(text),
        Ok(Message::Binary(_) | Message::Text(_)) => {
            let expected = if codec.is_text() {
                "text (JSON)"
            } else {
                "binary (postcard)"
            };
            let refusal = Refusal {
                code: ErrorCode::BadMessage,
                message: format!("this connection takes {expected} frames"),
            };
            return Incoming::Refused(refusal);
        }
        Ok(Message::Ping(_) | Message::Pong(_)) => return Incoming::Skip,
        Ok(Message::Close(_)) | Err(_) => return Incoming::End,
    };
    if payload.len() > max {
        let message = format!(
            "frame of {} bytes is over the limit of {max}",
            payload.len()
        );
        return Incoming::Refused(Refusal {
            code: ErrorCode::TooLarge,
            message,
        });
    }
    Incoming::Data(payload)
}

async fn run(socket: WebSocket, edge: Arc<Edge>, codec: Codec, meta: SessionMeta) {
    let (mut sink, mut stream) = socket.split();
    let deadline = Duration::from_millis(edge.config.handshake_timeout_ms);
    let hello = match tokio::time::timeout(deadline, handshake(&mut stream, &edge, codec)).await {
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
    let welcome = ServerMsg::Welcome {
        session,
        user: hello.user,
        protocol: PROTOCOL_VERSION,
        tick_rate: edge.config.tick_rate_hz,
    };
    // The queue is new and holds at least 8 frames, so the welcome always fits and goes first.
    let _ = tx.try_send(encode(codec, &welcome));
    edge.submit(Envelope::Register {
        conn,
        handle: ConnHandle {
            codec,
            tx: tx.clone(),
            close: close.clone(),
        },
        input: Input::Connect {
            conn,
            session,
            user: hello.user,
            name: hello.name,
            meta,
        },
    });

    let writer = tokio::spawn(write_frames(sink, rx, close.clone()));
    tokio::select! {
        () = read_commands(&mut stream, &edge, conn, codec, &tx, &close) => {
            close.close(CloseReason::policy("client closed the connection"));
        }
        _ = close.closed() => {}
    }
    edge.submit(Envelope::Input(Input::Disconnect { conn }));
    drop(tx);
    let _ = writer.await;
}

struct Hello {
    user: Uuid,
    name: Arc<str>,
}

/// Reads the first message, which must be a `hello` of our protocol with a valid name.
async fn handshake(stream: &mut Stream, edge: &Edge, codec: Codec) -> Result<Hello, Refusal> {
    let payload = loop {
        let Some(message) = stream.next().await else {
            return Err(Refusal {
                code: ErrorCode::BadMessage,
                message: "closed before hello".into(),
            });
        };
        match classify(message, codec, edge.config.max_frame_bytes) {
            Incoming::Data(payload) => break payload,
            Incoming::Refused(refusal) => return Err(refusal),
            Incoming::Skip => continue,
            Incoming::End => {
                return Err(Refusal {
                    code: ErrorCode::BadMessage,
                    message: "closed before hello".into(),
                });
            }
        }
    };
    let msg = codec.decode_client(&payload).map_err(|e| Refusal {
        code: ErrorCode::BadMessage,
        message: e.to_string(),
    })?;
    let ClientMsg::Hello { protocol, name } = msg else {
        return Err(Refusal {
            code: ErrorCode::BadMessage,
            message: "the first message must be hello".into(),
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
    let name = check_name("name", &name, edge.config.max_name_chars)?;
    let user = edge
        .store
        .user_for_name(&name, now_ms())
        .await
        .map_err(|error| {
            tracing::warn!(%error, "cannot find or create user at hello");
            Refusal {
                code: ErrorCode::Unavailable,
                message: "the user store is unavailable; retry later".into(),
            }
        })?;
    Ok(Hello { user, name })
}

async fn refuse_and_close(sink: &mut Sink, codec: Codec, refusal: Refusal) {
    let _ = sink
        .send(to_message(encode(codec, &refusal.to_msg())))
        .await;
    let _ = sink
        .send(close_message(&CloseReason::policy(refusal.message)))
        .await;
}

/// Reads frames until the client closes or is closed for abuse.
async fn read_commands(
    stream: &mut Stream,
    edge: &Edge,
    conn: ConnId,
    codec: Codec,
    tx: &mpsc::Sender<Frame>,
    close: &CloseSignal,
) {
    let config = &edge.config;
    let mut bucket = TokenBucket::new(
        config.client_messages_per_sec,
        config.client_message_burst,
        Instant::now(),
    );
    let window = Duration::from_secs(config.strike_window_secs);
    let mut strikes = StrikeCounter::new(config.max_strikes, window, Instant::now());
    let reply = |msg: &ServerMsg| {
        // A full queue means the client is not reading; the tick thread closes it as too slow.
        let _ = tx.try_send(encode(codec, msg));
    };
    while let Some(message) = stream.next().await {
        let result = match classify(message, codec, config.max_frame_bytes) {
            Incoming::Data(_) if !bucket.take(Instant::now()) => Err(Refusal {
                code: ErrorCode::RateLimited,
                message: "too many messages; slow down".into(),
            }),
            Incoming::Data(payload) => handle(&payload, edge, conn, codec, &reply),
            Incoming::Refused(refusal) => Err(refusal),
            Incoming::Skip => Ok(()),
            Incoming::End => return,
        };
        if let Err(refusal) = result {
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

fn handle(
    payload: &[u8],
    edge: &Edge,
    conn: ConnId,
    codec: Codec,
    reply: &impl Fn(&ServerMsg),
) -> Result<(), Refusal> {
    let msg = codec.decode_client(payload).map_err(|e| Refusal {
        code: ErrorCode::BadMessage,
        message: e.to_string(),
    })?;
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
/// was already queued (for at most [`CLOSE_DRAIN`]) and then the close frame.
async fn write_frames(mut sink: Sink, mut rx: mpsc::Receiver<Frame>, close: CloseSignal) {
    loop {
        tokio::select! {
            biased;
            reason = close.closed() => {
                let _ = tokio::time::timeout(CLOSE_DRAIN, async {
                    while let Ok(frame) = rx.try_recv() {
                        if sink.send(to_message(frame)).await.is_err() {
                            return;
                        }
                    }
                })
                .await;
                let _ = sink.send(close_message(&reason)).await;
                break;
            }
            frame = rx.recv() => match frame {
                Some(frame) => {
                    if sink.send(to_message(frame)).await.is_err() {
                        close.close(CloseReason::policy("connection lost"));
                        break;
                    }
                }
                None => break,
            },
        }
    }
    let _ = sink.close().await;
}
