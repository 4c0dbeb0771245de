//! The one translation point between the wire (`plaza_net`) and the world
//! (`plaza_systems`): client messages become checked commands (`inbound`), world events
//! become server messages (`outbound`), encoded once per codec for however many
//! recipients share them.

mod bases;
mod inbound;
mod outbound;

use bytes::Bytes;
use plaza_net::{Codec, ErrorCode, ServerMsg};

pub(crate) use bases::MotionBases;
pub use inbound::{check_name, command_from_wire, request_of};
pub use outbound::event_to_wire;
pub(crate) use outbound::{fallback_msg, is_empty_delta, motion_datagrams, motion_msg, rest_msg};

use crate::config::Config;

/// An encoded frame, ready for any connection using its codec. Cloning shares the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Encoded message.
    pub bytes: Bytes,
    /// Whether it goes out as a text frame (JSON) rather than binary (postcard).
    pub text: bool,
}

/// How a connection speaks: the protocol version and codec its hello settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dialect {
    /// Protocol version (1 or [`plaza_net::PROTOCOL_VERSION`]).
    pub version: u32,
    /// Codec.
    pub codec: Codec,
}

impl Dialect {
    /// The current protocol in `codec`.
    pub fn current(codec: Codec) -> Self {
        Self {
            version: plaza_net::PROTOCOL_VERSION,
            codec,
        }
    }

    /// Whether compact motion coded against the last pose it was sent reaches this
    /// connection as such (binary, current version).
    pub(crate) fn takes_relative_motion(self) -> bool {
        self.version >= 2 && self.codec == Codec::Postcard
    }
}

/// A refusal decided at the edge, before the world sees the message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// Error code sent to the client.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
    /// The `ref` of the message refused, when it could be read.
    pub request: Option<u32>,
}

impl Refusal {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            request: None,
        }
    }

    /// The same refusal, naming the message's `ref`.
    pub(crate) fn answering(self, request: Option<u32>) -> Self {
        Self { request, ..self }
    }

    /// The `error` message telling the client.
    pub(crate) fn to_msg(&self) -> ServerMsg {
        ServerMsg::Error {
            code: self.code,
            message: self.message.clone(),
            request: self.request,
        }
    }
}

/// Input size limits checked at the edge.
#[derive(Debug, Clone)]
pub struct InputLimits {
    /// Largest props JSON text in bytes.
    pub max_props_bytes: usize,
    /// Longest chat message in characters.
    pub max_chat_chars: usize,
    /// Longest user or space name in characters.
    pub max_name_chars: usize,
    /// Longest model reference in characters.
    pub max_model_chars: usize,
    /// Largest WebRTC signaling payload in bytes.
    pub max_signal_bytes: usize,
    /// Whether screen sharing (and its signaling) is switched on.
    pub screen_sharing: bool,
    /// The uploaded models a spawn may name (besides the built-in primitives).
    pub models: std::sync::Arc<crate::uploads::models::KnownModels>,
}

impl InputLimits {
    /// The limits in `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_props_bytes: config.max_props_bytes,
            max_chat_chars: config.max_chat_chars,
            max_name_chars: config.max_name_chars,
            max_model_chars: 256,
            max_signal_bytes: config.max_signal_bytes,
            screen_sharing: config.screen_sharing_enabled,
            models: Default::default(),
        }
    }
}

/// Encodes a server message (with plain motion lists) for `dialect`.
pub fn encode(dialect: Dialect, msg: &ServerMsg) -> Frame {
    let bytes = dialect.codec.encode_server_in(dialect.version, msg).expect(
        "server messages with plain motion encode in every version: they hold only strings, numbers and JSON objects",
    );
    Frame {
        bytes: Bytes::from(bytes),
        text: dialect.codec.is_text(),
    }
}

/// Encodes one message lazily, at most once per dialect, for many recipients.
#[derive(Debug)]
pub(crate) struct SharedEncoding {
    msg: ServerMsg,
    /// At most one frame per dialect (two versions × two codecs).
    frames: Vec<(Dialect, Frame)>,
}

impl SharedEncoding {
    /// Prepares to encode `msg`.
    pub fn new(msg: ServerMsg) -> Self {
        Self {
            msg,
            frames: Vec::new(),
        }
    }

    /// The message.
    pub fn msg(&self) -> &ServerMsg {
        &self.msg
    }

    /// The frame for `dialect`, encoding it on first use.
    pub fn frame(&mut self, dialect: Dialect) -> Frame {
        if let Some((_, frame)) = self.frames.iter().find(|(d, _)| *d == dialect) {
            return frame.clone();
        }
        let frame = encode(dialect, &self.msg);
        self.frames.push((dialect, frame.clone()));
        frame
    }
}
