//! Protocol version 1, frozen: its messages as they were, and their translation from and
//! to the current version. Kept for one release so that version-1 clients keep working;
//! then this file goes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::motion::{AvatarMoves, Moves, ObjectMoves};
use crate::{Codec, CodecError, ErrorCode, Props, ShareKind, WireShare, WireTransform};

/// A world object as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireObject {
    /// Stable id of the object.
    pub id: Uuid,
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
    /// Display name.
    pub name: String,
    /// Avatar transform.
    pub transform: WireTransform,
}

/// An avatar that moved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WireAvatar {
    /// Whose avatar.
    pub user: Uuid,
    /// Where it is now.
    pub transform: WireTransform,
}

/// An object that moved: its new transform and version (the rest is unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WireMotion {
    /// Object id.
    pub id: Uuid,
    /// Where it is now.
    pub transform: WireTransform,
    /// Its version after the move.
    pub version: u64,
}

/// One chat line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireChat {
    /// User who said it.
    pub from: Uuid,
    /// Their display name at the time.
    pub name: String,
    /// What they said.
    pub text: String,
    /// When the server received it, RFC 3339 in UTC.
    pub at: String,
}

/// Messages a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientMsg {
    /// First message on every connection.
    Hello {
        /// Must equal [`PROTOCOL_VERSION`].
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
    },
    /// Enter a space by name, creating it on first use.
    Join {
        /// Space name.
        space: String,
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
    },
    /// Replace an object's props.
    SetProps {
        /// Object id.
        id: Uuid,
        /// New props (a JSON object).
        props: Props,
    },
    /// Remove an object.
    Despawn {
        /// Object id.
        id: Uuid,
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
    },
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
        /// Protocol version spoken.
        protocol: u32,
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
        /// Avatars that moved.
        avatars: Vec<WireAvatar>,
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
        avatars: Vec<WireAvatar>,
        /// Objects whose only change was their transform.
        objects: Vec<WireMotion>,
    },
}

impl From<ClientMsg> for crate::ClientMsg {
    /// A version-1 message as the current version says it (no `ref`s, no negotiation).
    fn from(msg: ClientMsg) -> Self {
        use crate::ClientMsg as Now;
        match msg {
            ClientMsg::Hello {
                protocol,
                name,
                token,
                visitor,
                secret,
            } => Now::Hello {
                protocol,
                name,
                token,
                visitor,
                secret,
                versions: vec![1],
                codec: None,
                resume: None,
            },
            ClientMsg::Join { space } => Now::Join {
                space,
                request: None,
            },
            ClientMsg::Leave => Now::Leave,
            ClientMsg::Spawn {
                client_ref,
                model,
                transform,
                props,
            } => Now::Spawn {
                client_ref,
                model,
                transform,
                props,
            },
            ClientMsg::Move { id, transform } => Now::Move {
                id,
                transform,
                request: None,
            },
            ClientMsg::SetProps { id, props } => Now::SetProps {
                id,
                props,
                request: None,
            },
            ClientMsg::Despawn { id } => Now::Despawn { id, request: None },
            ClientMsg::Pose { transform } => Now::Pose { transform },
            ClientMsg::Chat { text } => Now::Chat {
                text,
                request: None,
            },
            ClientMsg::Ping { t } => Now::Ping { t },
            ClientMsg::ScreenShareStart { kind } => Now::ScreenShareStart {
                kind,
                request: None,
            },
            ClientMsg::ScreenShareStop => Now::ScreenShareStop,
            ClientMsg::Signal { to, data } => Now::Signal {
                to,
                data,
                request: None,
            },
        }
    }
}

fn user(u: &crate::WireUser) -> WireUser {
    WireUser {
        user: u.user,
        name: u.name.clone(),
        transform: u.transform.transform(),
    }
}

fn object(o: &crate::WireObject) -> WireObject {
    WireObject {
        id: o.id,
        model: o.model.clone(),
        transform: o.transform,
        props: o.props.clone(),
        owner: o.owner,
        version: o.version,
    }
}

fn chat(c: &crate::WireChat) -> WireChat {
    WireChat {
        from: c.from,
        name: c.name.clone(),
        text: c.text.clone(),
        at: c.at.clone(),
    }
}

fn avatars(list: &AvatarMoves) -> Option<Vec<WireAvatar>> {
    match list {
        Moves::Plain(moves) => Some(
            moves
                .iter()
                .map(|a| WireAvatar {
                    user: a.user,
                    transform: a.transform.transform(),
                })
                .collect(),
        ),
        Moves::Coded(_) => None,
    }
}

fn motions(list: &ObjectMoves) -> Option<Vec<WireMotion>> {
    match list {
        Moves::Plain(moves) => Some(
            moves
                .iter()
                .map(|o| WireMotion {
                    id: o.id,
                    transform: o.transform.transform(),
                    version: o.version,
                })
                .collect(),
        ),
        Moves::Coded(_) => None,
    }
}

impl ServerMsg {
    /// A current message as version 1 says it; `None` if it holds coded motion (the server
    /// builds plain lists for version-1 connections).
    pub fn from_current(msg: &crate::ServerMsg) -> Option<Self> {
        use crate::ServerMsg as Now;
        Some(match msg {
            Now::Welcome {
                session,
                user,
                tick_rate,
                name,
                registered,
                token,
                guest_secret,
                ..
            } => Self::Welcome {
                session: *session,
                user: *user,
                protocol: 1,
                tick_rate: *tick_rate,
                name: name.clone(),
                registered: *registered,
                token: token.clone(),
                guest_secret: guest_secret.clone(),
            },
            Now::Joined {
                space,
                name,
                tick,
                objects,
                users,
                chat: lines,
                shares,
            } => Self::Joined {
                space: *space,
                name: name.clone(),
                tick: *tick,
                objects: objects.iter().map(object).collect(),
                users: users.iter().map(user).collect(),
                chat: lines.iter().map(chat).collect(),
                shares: shares.clone(),
            },
            Now::Left { space } => Self::Left { space: *space },
            Now::Spawned { client_ref, id } => Self::Spawned {
                client_ref: *client_ref,
                id: *id,
            },
            Now::Chat(line) => Self::Chat(chat(line)),
            Now::Pong { t, tick } => Self::Pong { t: *t, tick: *tick },
            Now::Delta {
                tick,
                objects,
                removed,
                avatars: moved,
                joined,
                left,
                appeared,
                vanished,
                hidden,
            } => Self::Delta {
                tick: *tick,
                objects: objects.iter().map(object).collect(),
                removed: removed.clone(),
                avatars: avatars(moved)?,
                joined: joined.iter().map(user).collect(),
                left: left.clone(),
                appeared: appeared.iter().map(user).collect(),
                vanished: vanished.clone(),
                hidden: hidden.clone(),
            },
            // Version 1 knows no `full`.
            Now::Error { code, message, .. } => Self::Error {
                code: match code {
                    ErrorCode::Full => ErrorCode::Unavailable,
                    other => *other,
                },
                message: message.clone(),
            },
            Now::ScreenShare { share, active } => Self::ScreenShare {
                share: share.clone(),
                active: *active,
            },
            Now::Signal { from, data } => Self::Signal {
                from: *from,
                data: data.clone(),
            },
            Now::Motion {
                tick,
                avatars: moved,
                objects,
            } => Self::Motion {
                tick: *tick,
                avatars: avatars(moved)?,
                objects: motions(objects)?,
            },
            // Version 1 has no `moved`: say it in words.
            Now::Moved {
                space, http_url, ..
            } => Self::Error {
                code: ErrorCode::Unavailable,
                message: format!(
                    "space {space:?} is on another node: connect to {http_url}/ws and join it there"
                ),
            },
            // Nor `queued`: its join waits (`joined` comes when it is let in).
            Now::Queued { space, position } => Self::Error {
                code: ErrorCode::Unavailable,
                message: format!(
                    "space {space:?} is full: you are number {position} in line and enter when it is your turn"
                ),
            },
        })
    }
}

/// Encodes a version-1 server message.
pub fn encode_server(codec: Codec, msg: &ServerMsg) -> Result<Vec<u8>, CodecError> {
    codec.encode(msg)
}

/// Decodes a version-1 server message (for tests of version-1 clients).
pub fn decode_server(codec: Codec, frame: &[u8]) -> Result<ServerMsg, CodecError> {
    codec.decode(frame)
}

/// Encodes a version-1 client message.
pub fn encode_client(codec: Codec, msg: &ClientMsg) -> Result<Vec<u8>, CodecError> {
    codec.encode(msg)
}

/// Decodes a version-1 client message.
pub fn decode_client(codec: Codec, frame: &[u8]) -> Result<ClientMsg, CodecError> {
    codec.decode(frame)
}

/// A current client message as version 1 says it (its `ref`s and negotiation dropped).
pub fn client_msg(msg: &crate::ClientMsg) -> ClientMsg {
    use crate::ClientMsg as Now;
    match msg.clone() {
        Now::Hello {
            name,
            token,
            visitor,
            secret,
            ..
        } => ClientMsg::Hello {
            protocol: 1,
            name,
            token,
            visitor,
            secret,
        },
        Now::Join { space, .. } => ClientMsg::Join { space },
        Now::Leave => ClientMsg::Leave,
        Now::Spawn {
            client_ref,
            model,
            transform,
            props,
        } => ClientMsg::Spawn {
            client_ref,
            model,
            transform,
            props,
        },
        Now::Move { id, transform, .. } => ClientMsg::Move { id, transform },
        Now::SetProps { id, props, .. } => ClientMsg::SetProps { id, props },
        Now::Despawn { id, .. } => ClientMsg::Despawn { id },
        Now::Pose { transform } => ClientMsg::Pose { transform },
        Now::Chat { text, .. } => ClientMsg::Chat { text },
        Now::Ping { t } => ClientMsg::Ping { t },
        Now::ScreenShareStart { kind, .. } => ClientMsg::ScreenShareStart { kind },
        Now::ScreenShareStop => ClientMsg::ScreenShareStop,
        Now::Signal { to, data, .. } => ClientMsg::Signal { to, data },
    }
}

fn user_now(u: WireUser) -> crate::WireUser {
    crate::WireUser {
        user: u.user,
        index: 0,
        name: u.name,
        transform: crate::Pose::of(&u.transform),
    }
}

fn object_now(o: WireObject) -> crate::WireObject {
    crate::WireObject {
        id: o.id,
        index: 0,
        model: o.model,
        transform: o.transform,
        props: o.props,
        owner: o.owner,
        version: o.version,
    }
}

fn chat_now(c: WireChat) -> crate::WireChat {
    crate::WireChat {
        id: Uuid::nil(),
        from: c.from,
        name: c.name,
        text: c.text,
        at: c.at,
    }
}

fn avatars_now(list: Vec<WireAvatar>) -> AvatarMoves {
    Moves::Plain(
        list.into_iter()
            .map(|a| crate::AvatarMove {
                index: 0,
                user: a.user,
                transform: crate::Pose::of(&a.transform),
            })
            .collect(),
    )
}

impl From<ServerMsg> for crate::ServerMsg {
    /// A version-1 message in the current version's types, for a client that speaks
    /// version 1: what version 1 does not carry (indices, chat ids, `ref`s) is 0, nil or
    /// absent, and poses are quantised as the current version's are.
    fn from(msg: ServerMsg) -> Self {
        use crate::ServerMsg as Now;
        match msg {
            ServerMsg::Welcome {
                session,
                user,
                protocol,
                tick_rate,
                name,
                registered,
                token,
                guest_secret,
            } => Now::Welcome {
                session,
                user,
                protocol,
                codec: Codec::Postcard,
                tick_rate,
                name,
                registered,
                token,
                guest_secret,
                resume: None,
                resume_grace_secs: 0,
                resumed: false,
            },
            ServerMsg::Joined {
                space,
                name,
                tick,
                objects,
                users,
                chat,
                shares,
            } => Now::Joined {
                space,
                name,
                tick,
                objects: objects.into_iter().map(object_now).collect(),
                users: users.into_iter().map(user_now).collect(),
                chat: chat.into_iter().map(chat_now).collect(),
                shares,
            },
            ServerMsg::Left { space } => Now::Left { space },
            ServerMsg::Spawned { client_ref, id } => Now::Spawned { client_ref, id },
            ServerMsg::Chat(line) => Now::Chat(chat_now(line)),
            ServerMsg::Pong { t, tick } => Now::Pong { t, tick },
            ServerMsg::Delta {
                tick,
                objects,
                removed,
                avatars,
                joined,
                left,
                appeared,
                vanished,
                hidden,
            } => Now::Delta {
                tick,
                objects: objects.into_iter().map(object_now).collect(),
                removed,
                avatars: avatars_now(avatars),
                joined: joined.into_iter().map(user_now).collect(),
                left,
                appeared: appeared.into_iter().map(user_now).collect(),
                vanished,
                hidden,
            },
            ServerMsg::Error { code, message } => Now::Error {
                code,
                message,
                request: None,
            },
            ServerMsg::ScreenShare { share, active } => Now::ScreenShare { share, active },
            ServerMsg::Signal { from, data } => Now::Signal { from, data },
            ServerMsg::Motion {
                tick,
                avatars,
                objects,
            } => Now::Motion {
                tick,
                avatars: avatars_now(avatars),
                objects: Moves::Plain(
                    objects
                        .into_iter()
                        .map(|o| crate::ObjectMove {
                            index: 0,
                            id: o.id,
                            transform: crate::Pose::of(&o.transform),
                            version: o.version,
                        })
                        .collect(),
                ),
            },
        }
    }
}
