//! The WebSocket transport at `/ws`: binary postcard frames, or JSON text frames with
//! `?codec=json`. It only turns WebSocket messages into session frames and back; the
//! connection itself is run by [`crate::edge::session`].

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use plaza_net::{Codec, ErrorCode};
use plaza_systems::{SessionMeta, Transport};
use serde::Deserialize;

use crate::edge::Edge;
use crate::edge::bridge::{Frame, Refusal};
use crate::edge::conn::CloseReason;
use crate::edge::session::{self, FrameSink, FrameSource, Incoming};
use crate::http::listener::ConnSlot;

/// Query string of `/ws`.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    codec: Option<String>,
}

/// The `plaza_visitor` cookie, if it holds a valid visitor id.
fn visitor_cookie(headers: &HeaderMap) -> Option<Arc<str>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix("plaza_visitor="))
        .find_map(|value| crate::edge::hello::check_visitor(value).ok())
}

/// `GET /ws`: upgrades to a WebSocket if the codec is known and a connection slot is free.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    Query(query): Query<WsQuery>,
    State(edge): State<Arc<Edge>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Extension(conn_slot): Extension<ConnSlot>,
    headers: HeaderMap,
) -> Response {
    // Without `?codec=`, the hello's frame kind decides: text is JSON, binary postcard.
    let fixed = query.codec.is_some();
    let Some(codec) = Codec::from_query(query.codec.as_deref()) else {
        return (
            StatusCode::BAD_REQUEST,
            "codec must be \"postcard\" or \"json\"",
        )
            .into_response();
    };
    if !edge.admit_connection(peer.ip()) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited: too many new connections from this address; retry shortly",
        )
            .into_response();
    }
    // The WebSocket keeps its TCP connection's slot for as long as it lasts.
    let slot = conn_slot.take();
    // Copied out of the request now: its header values share the request's read buffer,
    // which the connection would otherwise keep for as long as it lasts (8 KiB or more).
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| Arc::from(v.chars().take(512).collect::<String>()));
    let meta = SessionMeta {
        transport: Transport::WebSocket,
        client_addr: Some(peer.ip()),
        user_agent,
        visitor: visitor_cookie(&headers),
    };
    drop(headers);
    // Frames over the hard limit end the connection in the WebSocket layer (code 1009).
    let hard_limit = edge.config.hard_frame_bytes();
    ws.max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        // tungstenite's defaults keep 128 KiB of read buffer per connection (272 MB at
        // 1,000 clients); client messages are small (a pose is ~30 bytes, a big frame
        // just takes several reads), and every frame is flushed anyway. 4 KiB is what
        // tungstenite suggests for many connections (8 KiB measured 4 KB more per idle
        // connection; scripts/idle.sh).
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            let (sink, stream) = socket.split();
            let source = WsSource {
                stream,
                codec: fixed.then_some(codec),
                max: edge.config.max_frame_bytes,
                idle: std::time::Duration::from_millis(edge.config.ws_idle_timeout_ms),
            };
            session::run(source, WsSink(sink), edge, codec, meta, None).await;
            drop(slot);
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

/// The payload of a data frame of the connection's codec (of either kind while it is not
/// settled), or why it is refused.
fn classify(message: Result<Message, axum::Error>, codec: Option<Codec>, max: usize) -> Incoming {
    let payload = match (message, codec) {
        (Ok(Message::Binary(bytes)), None | Some(Codec::Postcard)) => bytes,
        (Ok(Message::Text(text)), None | Some(Codec::Json)) => Bytes::from(text),
        (Ok(Message::Binary(_) | Message::Text(_)), Some(codec)) => {
            let expected = if codec.is_text() {
                "text (JSON)"
            } else {
                "binary (postcard)"
            };
            let refusal = Refusal::new(
                ErrorCode::BadMessage,
                format!("this connection takes {expected} frames"),
            );
            return Incoming::Refused(refusal);
        }
        (Ok(Message::Ping(_) | Message::Pong(_)), _) => return Incoming::Skip,
        (Ok(Message::Close(_)), _) => return Incoming::Goodbye,
        (Err(error), _) => return read_error(error),
    };
    if payload.len() > max {
        let message = format!(
            "frame of {} bytes is over the limit of {max}",
            payload.len()
        );
        return Incoming::Refused(Refusal::new(ErrorCode::TooLarge, message));
    }
    Incoming::Data(payload)
}

/// A read error: a message over the hard limit closes with 1009, anything else ends.
fn read_error(error: axum::Error) -> Incoming {
    use tokio_tungstenite::tungstenite::Error;
    match error.into_inner().downcast::<Error>().map(|e| *e) {
        Ok(Error::Capacity(capacity)) => Incoming::Close(CloseReason::too_big(format!(
            "{capacity}; frames are limited to max_frame_bytes"
        ))),
        _ => Incoming::End,
    }
}

/// Reads WebSocket messages as session frames; a connection from which nothing (not even
/// a pong) arrives for `idle` is closed.
struct WsSource {
    stream: Stream,
    /// The codec, once known (`?codec=`, or the hello's).
    codec: Option<Codec>,
    max: usize,
    idle: std::time::Duration,
}

impl FrameSource for WsSource {
    async fn next(&mut self) -> Incoming {
        match tokio::time::timeout(self.idle, self.stream.next()).await {
            Ok(Some(message)) => classify(message, self.codec, self.max),
            Ok(None) => Incoming::End,
            Err(_) => Incoming::Close(CloseReason::policy(format!(
                "idle: nothing received for {} s (not even a pong)",
                self.idle.as_secs_f32()
            ))),
        }
    }

    fn use_codec(&mut self, codec: Codec) {
        self.codec = Some(codec);
    }
}

/// Writes session frames as WebSocket messages.
struct WsSink(Sink);

impl FrameSink for WsSink {
    async fn send(&mut self, frame: Frame) -> Result<(), ()> {
        self.0.send(to_message(frame)).await.map_err(|_| ())
    }

    async fn close(&mut self, reason: &CloseReason) {
        let _ = self.0.send(close_message(reason)).await;
        let _ = self.0.close().await;
    }

    async fn keepalive(&mut self) -> Result<(), ()> {
        self.0
            .send(Message::Ping(Bytes::new()))
            .await
            .map_err(|_| ())
    }
}
