//! Plaza's wire protocol: the messages clients and server exchange, the codecs that turn
//! them into frames (postcard binary by default, JSON for browsers and tools), the
//! length-prefixed framing of the stream transports, and the shape of the server's
//! published statistics.
//!
//! [`Client`] speaks it over QUIC, WebTransport or WebSocket, for tests and load-test bots.
//!
//! This crate knows nothing of the ECS. The server translates these messages into its
//! domain commands in one place (`src/edge/bridge/`); clients use them as they are.

mod client;
mod codec;
pub mod framing;
mod messages;
mod props;
pub mod statistics;

pub use client::{ALPN, Client, ClientError, Closed, QuicEndpoint, Received, WebTransportEndpoint};
pub use codec::{Codec, CodecError};
pub use messages::{
    ClientMsg, ErrorCode, PROTOCOL_VERSION, ServerMsg, ShareKind, WireAvatar, WireChat, WireMotion,
    WireObject, WireShare, WireTransform, WireUser,
};
pub use props::{Props, PropsError};
