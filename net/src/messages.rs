//! Every message of protocol version 2 (the current one), one enum per direction.
//!
//! The JSON shapes (`{"type":"hello",...}`) are a published contract: within a version
//! fields may be added at the end, never renamed. `docs/protocol.md` documents each
//! message and byte; version 1 lives on, frozen, in [`crate::v1`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::motion::{AvatarMoves, ObjectMoves, Pose};
use crate::{Codec, Props};

/// The protocol version this crate speaks by default.
pub const PROTOCOL_VERSION: u32 = 2;

/// Every protocol version this crate can speak, newest first.
pub const PROTOCOL_VERSIONS: [u32; 2] = [2, 1];

/// Position, rotation (unit quaternion `x,y,z,w`) and scale, as plain arrays.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WireTransform {
    /// Position in metres.
    pub pos: [f32; 3],
    /// Rotation quaternion `[x, y, z, w]`.
    pub rot: [f32; 4],
    /// Scale per axis.
    pub scale: [f32; 3],
}

impl WireTransform {
    /// The identity transform: at the origin, unrotated, unit scale.
    pub const IDENTITY: Self = Self {
        pos: [0.0; 3],
        rot: [0.0, 0.0, 0.0, 1.0],
        scale: [1.0; 3],
    };

    /// A transform at `pos`, unrotated and at unit scale.
    pub fn at(pos: [f32; 3]) -> Self {
        Self {
            pos,
            ..Self::IDENTITY
        }
    }
}

impl Default for WireTransform {
    fn default() -> Self {
        Self::IDENTITY
    }
}

/// A world object as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireObject {
    /// Stable id of the object.
    pub id: Uuid,
    /// Its index among the objects of the space, by which `motion` names it.
    pub index: u32,
    /// Model reference (a built-in name such as `cube`, or an uploaded model's id).
    pub model: String,
    /// Where the object is.
    pub transform: WireTransform,
    /// Free-form JSON object.
    pub props: Props,
    /// User who created the object.
    pub owner: Uuid,
    /// Rises on every change; a client keeps the highest it has seen.
    pub version: u64,
}

/// A person present in a space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireUser {
    /// The person's user id.
    pub user: Uuid,
    /// Their index among the people of the space, by which motion names them.
    pub index: u32,
    /// Display name.
    pub name: String,
    /// Avatar pose (quantised: millimetres, packed rotation).
    pub transform: Pose,
}

/// One chat line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireChat {
    /// The line's id (UUIDv7, so ids sort by time): what chat history pages by.
    pub id: Uuid,
    /// User who said it.
    pub from: Uuid,
    /// Their display name at the time.
    pub name: String,
    /// What they said.
    pub text: String,
    /// When the server received it, RFC 3339 in UTC.
    pub at: String,
}

/// Why the server refused something; sent inside [`ServerMsg::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame could not be decoded, or a field is out of range (e.g. a non-finite float).
    BadMessage,
    /// `hello` named a protocol version this server does not speak; the connection closes.
    ProtocolMismatch,
    /// The message needs a joined space (send `join` first).
    NotJoined,
    /// No object with that id exists.
    NotFound,
    /// The frame or a field in it is over its size limit.
    TooLarge,
    /// The object exists but this session may not change it.
    Forbidden,
    /// Too many messages; slow down.
    RateLimited,
    /// The server cannot serve this right now (e.g. its store is unreachable); retry later.
    Unavailable,
    /// The token is unknown or expired, or the name belongs to a registered user and no
    /// token was sent: log in again.
    Unauthorized,
    /// The feature is switched off on this server.
    Disabled,
    /// The space is full and so many people already wait to enter it that the line is
    /// full too: try again later.
    Full,
}

/// What a screen share shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ShareKind {
    /// A whole screen.
    #[default]
    Screen,
    /// One application window.
    Window,
    /// One browser tab.
    Tab,
    /// A camera.
    Camera,
}

/// Someone sharing their screen in a space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireShare {
    /// Who shares.
    pub user: Uuid,
    /// Their display name.
    pub name: String,
    /// What they share.
    pub kind: ShareKind,
}

/// Messages a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientMsg {
    /// First message on every connection.
    Hello {
        /// The newest protocol version the client speaks (this message is written in it).
        protocol: u32,
        /// Display name. Ignored when `token` names a user.
        name: String,
        /// A login token (from `POST /api/login`) or the token of one's own live session;
        /// without one, the connection is a guest's.
        #[serde(default)]
        token: Option<String>,
        /// An anonymous visitor id the client keeps (8 to 128 characters of
        /// `[A-Za-z0-9_-]`), for visitor statistics; WebSocket clients may send the
        /// `plaza_visitor` cookie instead.
        #[serde(default)]
        visitor: Option<String>,
        /// The guest secret the server gave this guest name at its first `hello`
        /// (`welcome.guest_secret`): without it, a guest name that is in use is refused.
        #[serde(default)]
        secret: Option<String>,
        /// Every protocol version the client speaks (empty: only `protocol`); the server
        /// picks the newest it speaks too and says which in `welcome`.
        #[serde(default)]
        versions: Vec<u32>,
        /// The codec the client wants after `welcome` (absent: the one of this frame).
        #[serde(default)]
        codec: Option<Codec>,
        /// The resume token of an earlier `welcome`: take that session back (same session,
        /// space and avatar) if it is still held.
        #[serde(default)]
        resume: Option<String>,
    },
    /// Enter a space by name, creating it on first use.
    Join {
        /// Space name.
        space: String,
        /// Any number, echoed in an `error` that refuses this.
        #[serde(rename = "ref", default)]
        request: Option<u32>,
    },
    /// Leave the current space.
    Leave,
    /// Create an object; answered by `spawned` with the same `ref`.
    Spawn {
        /// Client-chosen number echoed in `spawned`.
        #[serde(rename = "ref")]
        client_ref: u32,
        /// Model reference.
        model: String,
        /// Initial transform.
        transform: WireTransform,
        /// Initial props (a JSON object).
        #[serde(default)]
        props: Props,
    },
    /// Move an object.
    Move {
        /// Object id.
        id: Uuid,
        /// New transform.
        transform: WireTransform,
        /// Any number, echoed in an `error` that refuses this.
        #[serde(rename = "ref", default)]
        request: Option<u32>,
    },
    /// Replace an object's props.
    SetProps {
        /// Object id.
        id: Uuid,
        /// New props (a JSON object).
        props: Props,
        /// Any number, echoed in an `error` that refuses this.
        #[serde(rename = "ref", default)]
        request: Option<u32>,
    },
    /// Remove an object.
    Despawn {
        /// Object id.
        id: Uuid,
        /// Any number, echoed in an `error` that refuses this.
        #[serde(rename = "ref", default)]
        request: Option<u32>,
    },
    /// Move one's own avatar.
    Pose {
        /// New avatar transform.
        transform: WireTransform,
    },
    /// Say something to everyone in the space.
    Chat {
        /// The message.
        text: String,
        /// Any number, echoed in an `error` that refuses this.
        #[serde(rename = "ref", default)]
        request: Option<u32>,
    },
    /// Round-trip probe; answered by `pong` with the same `t`.
    Ping {
        /// Any number, echoed back.
        t: f64,
    },
    /// Start sharing one's screen in the current space (the media itself flows between
    /// browsers over WebRTC, set up with `signal`).
    ScreenShareStart {
        /// What is shared.
        #[serde(default)]
        kind: ShareKind,
        /// Any number, echoed in an `error` that refuses this.
        #[serde(rename = "ref", default)]
        request: Option<u32>,
    },
    /// Stop sharing.
    ScreenShareStop,
    /// A WebRTC signaling message (an SDP offer or answer, or an ICE candidate) for one
    /// person in the same space; the server relays `data` without reading it.
    Signal {
        /// The user it is for.
        to: Uuid,
        /// Opaque text, usually JSON such as `{"type":"offer","sdp":"..."}`.
        data: String,
        /// Any number, echoed in an `error` that refuses this.
        #[serde(rename = "ref", default)]
        request: Option<u32>,
    },
}

impl ClientMsg {
    /// A new guest's `hello` under `name`.
    pub fn hello(name: impl Into<String>) -> Self {
        Self::Hello {
            protocol: PROTOCOL_VERSION,
            name: name.into(),
            token: None,
            visitor: None,
            secret: None,
            versions: PROTOCOL_VERSIONS.to_vec(),
            codec: None,
            resume: None,
        }
    }

    /// This hello with `token` as its resume token (any other message as it is): after
    /// a `moved`, the next node takes the session over from the last.
    #[must_use]
    pub fn resuming(mut self, token: Option<String>) -> Self {
        if let Self::Hello { resume, .. } = &mut self {
            *resume = token;
        }
        self
    }

    /// A returning guest's `hello`: `name` with the secret its first `welcome` gave.
    pub fn hello_again(name: impl Into<String>, secret: impl Into<String>) -> Self {
        Self::Hello {
            protocol: PROTOCOL_VERSION,
            name: name.into(),
            token: None,
            visitor: None,
            secret: Some(secret.into()),
            versions: PROTOCOL_VERSIONS.to_vec(),
            codec: None,
            resume: None,
        }
    }

    /// A `hello` presenting a token (the name is taken from the token's user).
    pub fn hello_with_token(token: impl Into<String>) -> Self {
        Self::Hello {
            protocol: PROTOCOL_VERSION,
            name: String::new(),
            token: Some(token.into()),
            visitor: None,
            secret: None,
            versions: PROTOCOL_VERSIONS.to_vec(),
            codec: None,
            resume: None,
        }
    }
}

/// Messages the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerMsg {
    /// Answer to `hello`.
    Welcome {
        /// This connection's session id.
        session: Uuid,
        /// The user behind it.
        user: Uuid,
        /// Protocol version spoken from now on.
        protocol: u32,
        /// Codec of every frame from now on.
        codec: Codec,
        /// Ticks per second.
        tick_rate: u32,
        /// The user's name (the account's, when a token was presented).
        name: String,
        /// Whether the user is registered (logged in with a token) rather than a guest.
        registered: bool,
        /// A bearer token valid while this session lasts, for HTTP requests
        /// (`Authorization: Bearer ...`) such as uploads. Keep it secret.
        token: String,
        /// Only on a guest name's first `hello`: the secret that makes this guest this
        /// guest. Keep it (like a cookie) and send it in every later `hello` as `secret`;
        /// it is not shown again.
        #[serde(default)]
        guest_secret: Option<String>,
        /// A token that takes this session back on a new connection (`hello.resume`)
        /// within `resume_grace_secs` of this one ending; absent when the server holds no
        /// sessions. Keep it secret.
        #[serde(default)]
        resume: Option<String>,
        /// How long the session is held for `resume` after the connection ends, in seconds.
        #[serde(default)]
        resume_grace_secs: u32,
        /// Whether this is a session taken back with `hello.resume` (its `joined` follows).
        #[serde(default)]
        resumed: bool,
    },
    /// Answer to `join`: the whole visible state of the space.
    Joined {
        /// Space id.
        space: Uuid,
        /// Space name.
        name: String,
        /// Tick this state is from; deltas follow from the next tick.
        tick: u64,
        /// Every object in the space.
        objects: Vec<WireObject>,
        /// Everyone in the space (oneself included).
        users: Vec<WireUser>,
        /// The latest chat lines, oldest first.
        chat: Vec<WireChat>,
        /// Who is sharing their screen.
        shares: Vec<WireShare>,
    },
    /// Answer to `leave`.
    Left {
        /// The space left.
        space: Uuid,
    },
    /// Answer to `spawn`.
    Spawned {
        /// The `ref` of the `spawn`.
        #[serde(rename = "ref")]
        client_ref: u32,
        /// The new object's id.
        id: Uuid,
    },
    /// A chat line said in the space.
    Chat(WireChat),
    /// Answer to `ping`.
    Pong {
        /// The `t` of the `ping`.
        t: f64,
        /// The server's current tick.
        tick: u64,
    },
    /// What changed in the space since this client's previous delta.
    Delta {
        /// Tick of this change.
        tick: u64,
        /// Objects created or changed, in full.
        objects: Vec<WireObject>,
        /// Ids of objects removed.
        removed: Vec<Uuid>,
        /// Avatars that moved (with datagrams: only those that settled).
        avatars: AvatarMoves,
        /// People who entered the space.
        joined: Vec<WireUser>,
        /// User ids of people who left it.
        left: Vec<Uuid>,
        /// People who came into view (with a view radius), with their current pose.
        appeared: Vec<WireUser>,
        /// User ids of people who went out of view but are still in the space.
        vanished: Vec<Uuid>,
        /// Ids of objects that went out of view but are still in the space.
        hidden: Vec<Uuid>,
    },
    /// Something the client sent was refused.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
        /// The `ref` of the message refused, when it carried one.
        #[serde(rename = "ref", default)]
        request: Option<u32>,
    },
    /// Someone in the space started or stopped sharing their screen.
    ScreenShare {
        /// Who, and what they share.
        share: WireShare,
        /// True when they started, false when they stopped.
        active: bool,
    },
    /// A WebRTC signaling message from someone in the same space.
    Signal {
        /// The user who sent it.
        from: Uuid,
        /// Their text, as they sent it.
        data: String,
    },
    /// What moved in one tick, sent as an unreliable datagram (QUIC and WebTransport)
    /// instead of inside that tick's `delta`. Newest wins: ignore one older than a tick
    /// already applied.
    Motion {
        /// Tick of these movements.
        tick: u64,
        /// Avatars that moved.
        avatars: AvatarMoves,
        /// Objects whose only change was their transform.
        objects: ObjectMoves,
    },
    /// The space joined (or the one the client was in) is simulated by another node of
    /// the cluster: connect to that node with the same credentials (guest name and secret,
    /// or token) and join the space there. The client is no longer in any space here.
    Moved {
        /// The space's name, to join there.
        space: String,
        /// The node's id.
        node: String,
        /// Its HTTP base URL (`http://host:port`); the WebSocket is at `{http_url}/ws`.
        http_url: String,
        /// Its QUIC port on the same host (0: off).
        quic_port: u16,
        /// Its WebTransport port on the same host, path `/wt` (0: off).
        webtransport_port: u16,
        /// SHA-256 of the certificate its QUIC and WebTransport present, hex.
        cert_sha256: String,
    },
    /// Answer to `join` when the space is full (`max_people_per_space`): the client waits in
    /// its line, first come first in. Sent again when its place changes (at most about once
    /// a second); `joined` follows when it is let in. `leave` (or joining elsewhere) gives
    /// the place up; it answers with `left` for this space.
    Queued {
        /// The space's name.
        space: String,
        /// Place in line: 1 is next in.
        position: u32,
    },
}
