//! Plaza's wire protocol: the messages clients and server exchange, and the codecs that
//! turn them into frames (postcard binary by default, JSON for browsers and tools).
//!
//! [`Client`] speaks it over QUIC or WebSocket, for tests and load-test bots.
//!
//! This crate knows nothing of the ECS. The server translates these messages into its
//! domain commands in one place (`src/bridge.rs`); clients use them as they are.

mod client;
mod codec;
mod messages;
mod props;

pub use client::{ALPN, Client, ClientError, Closed, Received, WebTransportEndpoint};
pub use codec::{Codec, CodecError};
pub use messages::{
    ClientMsg, ErrorCode, PROTOCOL_VERSION, ServerMsg, ShareKind, WireAvatar, WireChat, WireMotion,
    WireObject, WireShare, WireTransform, WireUser,
};
pub use props::{Props, PropsError};
