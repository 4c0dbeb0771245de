//! What goes into the world (inputs) and what comes out (events to clients, write sets to
//! the store), in domain terms. The server translates wire messages to and from these.

use std::sync::Arc;

use uuid::Uuid;

use crate::{ConnId, Rows, Strikes, Transform};

/// Something the world must act on at the start of the next tick.
#[derive(Debug, Clone)]
pub enum Input {
    /// A client connected and said hello.
    Connect {
        /// Its connection.
        conn: ConnId,
        /// Session id chosen by the server.
        session: Uuid,
        /// The user behind it.
        user: Uuid,
        /// Display name.
        name: Arc<str>,
        /// Whether the user administers the whole server (every space).
        admin: bool,
        /// Where it connected from, for the sessions table.
        meta: SessionMeta,
        /// Its strike counter, shared with its edge task: refusals of both count together.
        strikes: Strikes,
        /// When the session started, if it continues one that another node of the cluster
        /// handed over (its connect was logged there, and its end will be logged here).
        continued_from_ms: Option<i64>,
    },
    /// A client's connection ended.
    Disconnect {
        /// Its connection.
        conn: ConnId,
    },
    /// Another node of the cluster took over the session of connection `conn` (its client
    /// presented the resume token there): it leaves this world without ending, so that
    /// neither its end nor a disconnect is recorded here.
    HandOver {
        /// Its connection.
        conn: ConnId,
    },
    /// A client's connection ended, but it may take its session back until `until_ms`
    /// (ms since the epoch): the session stays where it is.
    Suspend {
        /// Its connection.
        conn: ConnId,
        /// When the session ends if not taken back.
        until_ms: i64,
    },
    /// A client took back the session of connection `from` on connection `conn`.
    Resume {
        /// The connection the session had.
        from: ConnId,
        /// Its new connection.
        conn: ConnId,
        /// The new connection's strike counter.
        strikes: Strikes,
    },
    /// A command from a connected client.
    Command {
        /// Who sent it.
        conn: ConnId,
        /// The client's number for it (`ref`), echoed in a refusal.
        request: Option<u32>,
        /// What it asks.
        command: Command,
    },
    /// The store answered a load request for a space.
    SpaceLoaded {
        /// The name that was requested.
        name: Arc<str>,
        /// The stored space (the store creates it if it did not exist), or why it could not
        /// be read.
        result: Result<LoadedSpace, String>,
    },
    /// A space's owner, privacy or members changed (through the HTTP API); applies if the
    /// space is loaded.
    AccessChanged {
        /// Space id.
        space: Uuid,
        /// Its access now.
        access: SpaceAccess,
    },
    /// A space was deleted (through the HTTP API): everyone leaves it and the store
    /// deletes it after what was written before.
    SpaceDeleted {
        /// Space id.
        space: Uuid,
    },
    /// Something that happened outside the tick (an upload) for the event log, so that it
    /// is written in the same batches as the rest.
    Log(EventRecord),
    /// A space asked for is owned by another node of the cluster: those waiting for it
    /// are sent there.
    SpaceElsewhere {
        /// The name that was requested.
        name: Arc<str>,
        /// Its owner.
        to: NodeAddress,
    },
    /// A loaded space is no longer this node's (handed over, or claimed by another node):
    /// it leaves the world, its unsaved changes handed to the writer first, and whoever is
    /// in it is sent to `to` (unknown: told to join again).
    SpaceUnload {
        /// Space id.
        space: Uuid,
        /// Its new owner, if known.
        to: Option<NodeAddress>,
    },
}

/// Where clients reach another node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress {
    /// Its id.
    pub node: Arc<str>,
    /// Its HTTP base URL (`http://host:port`); WebSocket at `/ws`.
    pub http_url: Arc<str>,
    /// Its QUIC port (0: off); same host as `http_url`.
    pub quic_port: u16,
    /// Its WebTransport port (0: off); same host.
    pub webtransport_port: u16,
    /// SHA-256 of its certificate, hex (for QUIC and WebTransport).
    pub cert_sha256: Arc<str>,
}

/// Who may enter a space and who administers it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpaceAccess {
    /// The user who created it over HTTP (spaces created by `join` have none).
    pub owner: Option<Uuid>,
    /// Whether joining needs an invitation (membership) or admin rights.
    pub private: bool,
    /// Invited users.
    pub members: std::collections::HashSet<Uuid>,
    /// Users who administer it besides the owner: they may move or remove anyone's objects.
    pub admins: std::collections::HashSet<Uuid>,
}

impl SpaceAccess {
    /// Whether `user` administers the space.
    pub fn is_admin(&self, user: Uuid) -> bool {
        self.owner == Some(user) || self.admins.contains(&user)
    }

    /// Whether `user` may enter.
    pub fn may_enter(&self, user: Uuid) -> bool {
        !self.private || self.is_admin(user) || self.members.contains(&user)
    }
}

/// What carries a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// WebSocket (browsers and tools).
    #[default]
    WebSocket,
    /// Native QUIC.
    Quic,
    /// WebTransport (browsers).
    WebTransport,
}

impl Transport {
    /// Every transport, in the order of [`Transport::index`].
    pub const ALL: [Transport; 3] = [Self::WebSocket, Self::Quic, Self::WebTransport];

    /// The name stored in the sessions table and used in telemetry: `ws`, `quic`, `wt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebSocket => "ws",
            Self::Quic => "quic",
            Self::WebTransport => "wt",
        }
    }

    /// Its position in [`Transport::ALL`], for per-transport tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How a session connected, recorded with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionMeta {
    /// What carries it.
    pub transport: Transport,
    /// Client's address.
    pub client_addr: Option<std::net::IpAddr>,
    /// Client's user agent, if it sent one.
    pub user_agent: Option<Arc<str>>,
    /// The anonymous visitor id the client sent, if any (already checked).
    pub visitor: Option<Arc<str>>,
}

/// A client's command, already decoded and checked for size and finiteness.
#[derive(Debug, Clone)]
pub enum Command {
    /// Enter a space by name.
    Join {
        /// Space name.
        space: Arc<str>,
    },
    /// Leave the current space.
    Leave,
    /// Create an object.
    Spawn {
        /// Echoed in the reply.
        client_ref: u32,
        /// Model reference.
        model: Arc<str>,
        /// Initial transform.
        transform: Transform,
        /// Initial props (JSON object text).
        props: Arc<str>,
    },
    /// Move an object.
    Move {
        /// Object id.
        id: Uuid,
        /// New transform.
        transform: Transform,
    },
    /// Replace an object's props.
    SetProps {
        /// Object id.
        id: Uuid,
        /// New props (JSON object text).
        props: Arc<str>,
    },
    /// Remove an object.
    Despawn {
        /// Object id.
        id: Uuid,
    },
    /// Move one's avatar.
    Pose {
        /// New avatar transform.
        transform: Transform,
    },
    /// Say something in the space.
    Chat {
        /// The message.
        text: Arc<str>,
    },
    /// Start sharing one's screen.
    ShareStart {
        /// What is shared.
        kind: ShareKind,
    },
    /// Stop sharing.
    ShareStop,
    /// Relay a WebRTC signaling message to one user in the same space.
    Signal {
        /// The user it is for.
        to: Uuid,
        /// Opaque text (already size-checked).
        data: Arc<str>,
    },
}

/// Who receives an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// One connection.
    One(ConnId),
    /// Several connections; the server encodes the event once for all of them.
    Many(Vec<ConnId>),
}

/// An event for clients, addressed.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Who gets it.
    pub to: Recipients,
    /// What they get.
    pub event: Event,
}

/// Something clients are told.
#[derive(Debug, Clone)]
pub enum Event {
    /// The full state of a space just entered.
    Joined(Box<Snapshot>),
    /// The session left this space.
    Left {
        /// Space id.
        space: Uuid,
    },
    /// An object was created for the recipient's `spawn`.
    Spawned {
        /// The spawn's reference.
        client_ref: u32,
        /// The new object's id.
        id: Uuid,
    },
    /// A chat line.
    Chat(ChatLine),
    /// What changed in a space this tick.
    Delta(Box<Delta>),
    /// A command was refused.
    Error {
        /// Why.
        kind: ErrorKind,
        /// Details for people.
        message: String,
        /// The `ref` of the command refused, if it carried one.
        request: Option<u32>,
    },
    /// Someone started or stopped sharing their screen.
    ScreenShare {
        /// Who and what.
        share: ShareState,
        /// Started (true) or stopped.
        active: bool,
    },
    /// A signaling message from another user in the space.
    Signal {
        /// Its sender.
        from: Uuid,
        /// Its text.
        data: Arc<str>,
    },
    /// The server closes the recipient's connection.
    Close {
        /// Why, for people.
        reason: String,
    },
    /// The space the recipient joined or was in is on another node: connect there and
    /// join it again.
    Moved {
        /// The space's name.
        space: Arc<str>,
        /// Where it is.
        to: NodeAddress,
    },
    /// The space joined is full: the recipient waits in its line, at this place (1: next
    /// in). Sent on joining the line and again when the place changes; `joined` follows
    /// when it is let in.
    Queued {
        /// The space's name.
        space: Arc<str>,
        /// Place in line, from 1.
        position: u32,
    },
}

/// Why the world refused a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command needs a joined space.
    NotJoined,
    /// No such object in the session's space.
    NotFound,
    /// The session may not do this.
    Forbidden,
    /// A limit was reached (e.g. objects per space).
    TooLarge,
    /// The store could not be read; retry later.
    Unavailable,
    /// The space is full and so is its join queue; try again later.
    Full,
}

/// What a screen share shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ShareKind {
    /// A whole screen.
    #[default]
    Screen,
    /// One window.
    Window,
    /// One browser tab.
    Tab,
    /// A camera.
    Camera,
}

impl ShareKind {
    /// The name stored in the `screen_shares` table: `screen`, `window`, `tab`, `camera`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Screen => "screen",
            Self::Window => "window",
            Self::Tab => "tab",
            Self::Camera => "camera",
        }
    }
}

/// An active screen share.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareState {
    /// Who shares.
    pub user: Uuid,
    /// Their name.
    pub name: Arc<str>,
    /// What.
    pub kind: ShareKind,
}

/// A world object's replicated state.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectState {
    /// Stable id.
    pub id: Uuid,
    /// Its index among the objects of its space while it is in a world ([`crate::Slot`]);
    /// 0 where no world numbered it (read from a store, say).
    pub index: u32,
    /// Model reference.
    pub model: Arc<str>,
    /// Where it is.
    pub transform: Transform,
    /// JSON object text.
    pub props: Arc<str>,
    /// Creator.
    pub owner: Uuid,
    /// Change counter.
    pub version: u64,
}

/// A person in a space.
#[derive(Debug, Clone, PartialEq)]
pub struct UserState {
    /// User id.
    pub user: Uuid,
    /// Their index among the people of the space ([`crate::Slot`]).
    pub index: u32,
    /// Display name.
    pub name: Arc<str>,
    /// Avatar transform.
    pub transform: Transform,
}

/// A chat line.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatLine {
    /// Stable id (the store's key).
    pub id: Uuid,
    /// Space it was said in.
    pub space: Uuid,
    /// Who said it.
    pub from: Uuid,
    /// Their name then.
    pub name: Arc<str>,
    /// What they said.
    pub text: Arc<str>,
    /// When, in milliseconds since the Unix epoch (UTC).
    pub at_ms: i64,
}

/// The full state of a space, sent on `join`.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Space id.
    pub space: Uuid,
    /// Space name.
    pub name: Arc<str>,
    /// Tick of the state.
    pub tick: u64,
    /// Every object.
    pub objects: Vec<ObjectState>,
    /// Everyone present, the joiner included.
    pub users: Vec<UserState>,
    /// Latest chat, oldest first.
    pub chat: Vec<ChatLine>,
    /// Active screen shares.
    pub shares: Vec<ShareState>,
}

/// An avatar's pose, addressed both ways: by user id and by index in the space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AvatarPose {
    /// Whose.
    pub user: Uuid,
    /// Their index among the people of the space.
    pub index: u32,
    /// Where it is.
    pub transform: Transform,
}

impl AvatarPose {
    /// The pose of `session`'s `avatar`.
    pub fn of(session: &crate::components::Session, avatar: &crate::components::Avatar) -> Self {
        Self {
            user: session.user,
            index: session.slot.0,
            transform: avatar.0,
        }
    }
}

/// What changed in one space in one tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    /// Tick.
    pub tick: u64,
    /// The space's id (on whole-space deltas; nil on a viewer's own).
    pub space: Uuid,
    /// Whether this delta goes to everyone in the space and holds every change of the tick
    /// (replication without a view radius): then what a recipient has of each avatar is
    /// what the previous such delta said, so motion can be coded against it.
    pub whole_space: bool,
    /// Objects created or changed.
    pub objects: Vec<ObjectState>,
    /// Objects removed.
    pub removed: Vec<Uuid>,
    /// Avatars that moved.
    pub avatars: Vec<AvatarPose>,
    /// Objects whose only change was their transform (clients with datagrams get them as
    /// motion; others get them as changed objects).
    pub moved: Vec<ObjectState>,
    /// Objects that moved last tick and did not change this one: their final state, sent
    /// reliably to clients that got the moves as datagrams.
    pub settled_objects: Vec<ObjectState>,
    /// Avatars that moved last tick but not this one: their final pose. Clients that get
    /// poses as unreliable datagrams get these reliably, so a lost last pose is not final.
    pub settled: Vec<AvatarPose>,
    /// People who entered.
    pub joined: Vec<UserState>,
    /// User ids of people who left.
    pub left: Vec<Uuid>,
    /// People who came into view (interest management), with their current pose.
    pub appeared: Vec<UserState>,
    /// User ids of people who went out of view but are still in the space.
    pub vanished: Vec<Uuid>,
    /// Ids of objects that went out of view but are still in the space.
    pub hidden: Vec<Uuid>,
}

impl Delta {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
            && self.removed.is_empty()
            && self.avatars.is_empty()
            && self.settled.is_empty()
            && self.moved.is_empty()
            && self.settled_objects.is_empty()
            && self.joined.is_empty()
            && self.left.is_empty()
            && self.appeared.is_empty()
            && self.vanished.is_empty()
            && self.hidden.is_empty()
    }
}

/// A space as the store holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedSpace {
    /// Space id.
    pub id: Uuid,
    /// Space name.
    pub name: Arc<str>,
    /// Its objects.
    pub objects: Vec<ObjectState>,
    /// Its latest chat lines, oldest first.
    pub chat: Vec<ChatLine>,
    /// Who may enter and administer it.
    pub access: SpaceAccess,
}

/// An object row to write.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRecord {
    /// Space the object is in.
    pub space: Uuid,
    /// Its state.
    pub state: ObjectState,
}

/// A session row: written when it starts and again when it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// Session id.
    pub id: Uuid,
    /// Its user.
    pub user: Uuid,
    /// How it connected.
    pub meta: SessionMeta,
    /// Start, ms since the Unix epoch.
    pub started_ms: i64,
    /// End, once it ended.
    pub ended_ms: Option<i64>,
}

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A session started.
    Connect,
    /// A session ended.
    Disconnect,
    /// Someone entered a space.
    Join,
    /// Someone left a space.
    Leave,
    /// An object was created.
    Spawn,
    /// An object was removed.
    Despawn,
    /// A chat line was said.
    Chat,
    /// A screen share started.
    ShareStart,
    /// A screen share stopped.
    ShareStop,
    /// A file was uploaded.
    Upload,
}

impl EventKind {
    /// The name stored in the events table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Disconnect => "disconnect",
            Self::Join => "join",
            Self::Leave => "leave",
            Self::Spawn => "spawn",
            Self::Despawn => "despawn",
            Self::Chat => "chat",
            Self::ShareStart => "share_start",
            Self::ShareStop => "share_stop",
            Self::Upload => "upload",
        }
    }
}

/// One row of the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// What happened.
    pub kind: EventKind,
    /// Where, if in a space.
    pub space: Option<Uuid>,
    /// Who.
    pub user: Uuid,
    /// Through which session.
    pub session: Uuid,
    /// The object concerned (spawn, despawn), or the upload's id.
    pub object: Option<Uuid>,
    /// When, ms since the Unix epoch.
    pub at_ms: i64,
}

/// A `screen_shares` row: written when the share starts and again when it stops.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareRecord {
    /// Row id.
    pub id: Uuid,
    /// Space shared in.
    pub space: Uuid,
    /// Session sharing.
    pub session: Uuid,
    /// User sharing.
    pub user: Uuid,
    /// What is shared.
    pub kind: ShareKind,
    /// Start, ms since the Unix epoch.
    pub started_ms: i64,
    /// End, once it ended.
    pub ended_ms: Option<i64>,
}

/// A visit to a space by an anonymous visitor (a `visitor_tracking` upsert).
#[derive(Debug, Clone, PartialEq)]
pub struct VisitRecord {
    /// The client's visitor id.
    pub visitor: Arc<str>,
    /// The space visited.
    pub space: Uuid,
    /// The user at the time.
    pub user: Uuid,
    /// Visits in this record (records of one visitor and space add up).
    pub visits: u32,
    /// Latest visit, ms since the Unix epoch.
    pub at_ms: i64,
    /// The client's user agent.
    pub user_agent: Option<Arc<str>>,
}

/// Who is in a space now (written to Redis with an expiry).
#[derive(Debug, Clone, PartialEq)]
pub struct PresenceRecord {
    /// The space.
    pub space: Uuid,
    /// Its members: user id and name. Empty when the last one left.
    pub members: Vec<(Uuid, Arc<str>)>,
}

/// Everything one tick asks the stores to write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteSet {
    /// Rows for the durable store.
    pub rows: Rows,
    /// Spaces whose presence changed or is due for a refresh (for Redis only).
    pub presence: Vec<PresenceRecord>,
}

impl WriteSet {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.presence.is_empty()
    }
}

impl From<Rows> for WriteSet {
    /// Rows for the durable store, with no presence.
    fn from(rows: Rows) -> Self {
        Self {
            rows,
            presence: Vec::new(),
        }
    }
}
