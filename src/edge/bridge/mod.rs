//! The one translation point between the wire (`plaza_net`) and the world
//! (`plaza_systems`): client messages become checked commands (`inbound`), world events
//! become server messages (`outbound`), encoded once per codec for however many
//! recipients share them.

mod inbound;
mod outbound;

use bytes::Bytes;
use plaza_net::{Codec, ErrorCode, ServerMsg};

pub use inbound::{check_name, command_from_wire};
pub use outbound::event_to_wire;
pub(crate) use outbound::{fallback_msg, is_empty_delta, motion_msg, rest_msg};

use crate::config::Config;

/// An encoded frame, ready for any connection using its codec. Cloning shares the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Encoded message.
    pub bytes: Bytes,
    /// Whether it goes out as a text frame (JSON) rather than binary (postcard).
    pub text: bool,
}

/// A refusal decided at the edge, before the world sees the message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// Error code sent to the client.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The `error` message telling the client.
    pub(crate) fn to_msg(&self) -> ServerMsg {
        ServerMsg::Error {
            code: self.code,
            message: self.message.clone(),
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
        }
    }
}

/// Encodes a server message for `codec`.
pub fn encode(codec: Codec, msg: &ServerMsg) -> Frame {
    let bytes = codec
        .encode_server(msg)
        .expect("server messages always encode: they hold only strings, numbers and JSON objects");
    Frame {
        bytes: Bytes::from(bytes),
        text: codec.is_text(),
    }
}

/// Encodes one message lazily, at most once per codec, for many recipients.
#[derive(Debug)]
pub(crate) struct SharedEncoding {
    msg: ServerMsg,
    postcard: Option<Frame>,
    json: Option<Frame>,
}

impl SharedEncoding {
    /// Prepares to encode `msg`.
    pub fn new(msg: ServerMsg) -> Self {
        Self {
            msg,
            postcard: None,
            json: None,
        }
    }

    /// The frame for `codec`, encoding it on first use.
    pub fn frame(&mut self, codec: Codec) -> Frame {
        let slot = match codec {
            Codec::Postcard => &mut self.postcard,
            Codec::Json => &mut self.json,
        };
        slot.get_or_insert_with(|| encode(codec, &self.msg)).clone()
    }
}
