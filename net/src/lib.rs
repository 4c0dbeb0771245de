//! Plaza's wire protocol: the messages clients and server exchange (version 2, and the
//! frozen version 1 in [`v1`]), the codecs that turn them into frames (postcard binary by
//! default, JSON for browsers and tools), compact motion ([`pose`], [`motion`]), the
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
#[cfg(test)]
mod golden;
mod messages;
mod mirror;
pub mod motion;
mod moved;
pub mod pose;
mod props;
pub mod statistics;
pub mod v1;

pub use client::{
    ALPN, Client, ClientError, Closed, QuicEndpoint, Received, WebTransportEndpoint, pinned_tls,
};
pub use codec::{Codec, CodecError};
pub use messages::{
    ClientMsg, ErrorCode, PROTOCOL_VERSION, PROTOCOL_VERSIONS, ServerMsg, ShareKind, WireChat,
    WireObject, WireShare, WireTransform, WireUser,
};
pub use mirror::Mirror;
pub use motion::{AvatarMove, AvatarMoves, Known, Moves, ObjectMove, ObjectMoves, Pose};
pub use moved::{MovedTo, Transport, sha256_from_hex};
pub use pose::{PoseError, QPose, QRot, QScale};
pub use props::{Props, PropsError};
