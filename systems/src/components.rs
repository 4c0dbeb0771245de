//! Components of Plaza's entities: spaces, sessions (connected clients) and world objects.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use bevy_ecs::prelude::*;
use glam::{Quat, Vec3};
use uuid::Uuid;

use crate::ChatLine;

/// Identifies a live connection; the server maps it to its outbound queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Position, rotation and scale of an object or avatar.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// Position in metres.
    pub translation: Vec3,
    /// Rotation.
    pub rotation: Quat,
    /// Scale per axis.
    pub scale: Vec3,
}

impl Transform {
    /// At the origin, unrotated, unit scale.
    pub const IDENTITY: Self = Self {
        translation: Vec3::ZERO,
        rotation: Quat::IDENTITY,
        scale: Vec3::ONE,
    };

    /// Unrotated at unit scale at `translation`.
    pub fn from_translation(translation: Vec3) -> Self {
        Self {
            translation,
            ..Self::IDENTITY
        }
    }
}

impl Default for Transform {
    fn default() -> Self {
        Self::IDENTITY
    }
}

/// A space (a room people meet in).
#[derive(Component, Debug, Clone)]
pub struct Space {
    /// Stable id.
    pub id: Uuid,
    /// Unique name, as given in `join`.
    pub name: Arc<str>,
}

/// What a space holds, kept by the command handlers so that no system scans every entity
/// to find one space's objects or people.
#[derive(Component, Debug, Default)]
pub struct SpaceContents {
    /// World objects in the space.
    pub objects: HashSet<Entity>,
    /// Sessions in the space, in the order they joined.
    pub members: Vec<Entity>,
}

/// Who may enter a space and who administers it.
#[derive(Component, Debug, Default)]
pub struct Access(pub crate::SpaceAccess);

/// The screen shares active in a space, in the order they started.
#[derive(Component, Debug, Default)]
pub struct ScreenShares(pub Vec<crate::ShareState>);

/// The screen share a session keeps open: its `screen_shares` row.
#[derive(Component, Debug, Clone)]
pub struct Sharing(pub crate::ShareRecord);

/// The latest chat lines of a space, oldest first, at most `Limits::chat_history`.
#[derive(Component, Debug, Default)]
pub struct ChatLog(pub VecDeque<ChatLine>);

/// A connected client.
#[derive(Component, Debug, Clone)]
pub struct Session {
    /// Session id, as sent in `welcome`.
    pub id: Uuid,
    /// The connection it speaks through.
    pub conn: ConnId,
    /// The user behind it.
    pub user: Uuid,
    /// Display name.
    pub name: Arc<str>,
    /// Whether the user administers every space.
    pub admin: bool,
    /// How it connected.
    pub meta: crate::SessionMeta,
    /// When it connected, ms since the Unix epoch.
    pub started_ms: i64,
    /// Its index among the people of the space it is in (meaningless while in none).
    pub slot: crate::Slot,
}

/// A session's avatar transform.
#[derive(Component, Debug, Clone, Copy, Default, PartialEq)]
pub struct Avatar(pub Transform);

/// The space a session or object is in.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct InSpace(pub Entity);

/// Marks a session that entered its space this tick: it gets the full state at the end of
/// the tick instead of that tick's delta.
#[derive(Component, Debug, Default)]
pub struct JustJoined;

/// Objects of its space that a session which just entered has yet to be sent (whole-space
/// replication): its `joined` snapshot held the first [`crate::Limits::load_slice_objects`],
/// the rest follow a slice per tick, so entering a big space stalls no tick. Sessions that
/// entered in the same tick share `rest` and move through it together, so each slice is
/// built once and sent to all of them in one message.
#[derive(Component, Debug)]
pub struct Backfill {
    /// The objects left out of the snapshot, in the order they are sent.
    pub rest: Arc<[Entity]>,
    /// How many of them were sent.
    pub sent: usize,
}

impl Backfill {
    /// Owes `rest`, none sent yet.
    pub fn new(rest: Arc<[Entity]>) -> Self {
        Self { rest, sent: 0 }
    }
}

/// A session waiting for a space to be loaded from the store.
#[derive(Component, Debug, Clone)]
pub struct WantsSpace(pub Arc<str>);

/// Stable id of a world object.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectId(pub Uuid);

/// Model reference of a world object.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct Model(pub Arc<str>);

/// Free-form props of a world object: a JSON object as compact text.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct Props(pub Arc<str>);

/// User who created a world object.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner(pub Uuid);

/// Rises by one on every change of a world object. Replication and persistence read
/// `Changed<Version>`, so every mutation must go through `objects`, which bumps it.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u64);

/// The version last handed to the store; an object whose `Version` equals it is not written
/// again (objects loaded from the store start equal).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedVersion(pub u64);
