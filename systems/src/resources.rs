//! World-wide resources: time, limits, indexes, and the buffers through which inputs come
//! in and events and writes go out.

use std::collections::HashMap;
use std::sync::Arc;

use bevy_ecs::prelude::*;
use uuid::Uuid;

use crate::{ConnId, Input, ObjectState, Outgoing, WriteSet};

/// The current tick and wall-clock time, set by whoever drives the schedule (the tick loop
/// in the server, the test in tests). Systems read time only from here.
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct SimTime {
    /// Tick number, rising by one per run of the schedule.
    pub tick: u64,
    /// Wall-clock time of this tick in milliseconds since the Unix epoch (UTC).
    pub unix_ms: i64,
}

/// Limits the world enforces. The server fills them from its config.
#[derive(Resource, Debug, Clone)]
pub struct Limits {
    /// Chat lines kept per space and sent on join.
    pub chat_history: usize,
    /// Objects one space may hold.
    pub max_objects_per_space: usize,
    /// Every this many ticks the presence of every occupied space is written again, so
    /// that it does not expire in Redis while people stay.
    pub presence_refresh_ticks: u64,
    /// Interest management: a session sees only what is within this many metres of its
    /// avatar. `None`: everyone in a space sees all of it, through one shared delta.
    pub view_radius: Option<f32>,
    /// With a view radius, the most a session is sent per tick, in estimated encoded
    /// bytes; what does not fit waits for later ticks, nearest and freshest first.
    pub view_budget_bytes: usize,
    /// Something that moved (sent as motion, which may be lost) and then did not move for
    /// this many ticks gets its final state sent reliably. Longer than the gap between a
    /// walker's poses, so that walking is never mistaken for stopping.
    pub settle_ticks: u64,
    /// Objects a space takes in or gives out per tick: those of a space loading from the
    /// store (see [`SpaceLoads`]), and, without a view radius, those sent to sessions that
    /// just entered a space beyond their `joined` snapshot (see
    /// [`crate::components::Backfill`]). A big space then costs several short ticks rather
    /// than one long one.
    pub load_slice_objects: usize,
    /// People one space holds at once (0: no limit). Those who come when it is full wait
    /// in its join queue ([`crate::queue`]); server admins and the space's admins enter
    /// anyway.
    pub max_people_per_space: usize,
    /// The longest a space's join queue grows; who comes when it is that long is refused
    /// with `full`.
    pub join_queue_per_space: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            chat_history: 50,
            max_objects_per_space: 100_000,
            presence_refresh_ticks: 200,
            view_radius: None,
            view_budget_bytes: 16 * 1024,
            settle_ticks: 4,
            load_slice_objects: 1_000,
            max_people_per_space: 0,
            join_queue_per_space: 1_000,
        }
    }
}

/// Inputs to apply at the start of the next tick, in arrival order.
#[derive(Resource, Debug, Default)]
pub struct Inbox(pub Vec<Input>);

/// Events for clients produced this tick, in order. The server drains it after each tick.
#[derive(Resource, Debug, Default)]
pub struct Outbox(pub Vec<Outgoing>);

/// Space names the world wants loaded from the store. The server drains it after each tick
/// and answers each with an [`Input::SpaceLoaded`].
#[derive(Resource, Debug, Default)]
pub struct LoadRequests(pub Vec<Arc<str>>);

/// Spaces the store answered that are entering the world a slice at a time, oldest first:
/// each tick spawns at most [`Limits::load_slice_objects`] of their objects, and a space
/// becomes joinable (and its waiting sessions enter) with its first slice.
#[derive(Resource, Debug, Default)]
pub struct SpaceLoads(pub std::collections::VecDeque<SpaceLoad>);

/// One space entering the world.
#[derive(Debug)]
pub struct SpaceLoad {
    /// Its entity (in [`Index::spaces`] from its first slice on).
    pub space: Entity,
    /// Its name.
    pub name: Arc<str>,
    /// Objects still to spawn.
    pub objects: Vec<ObjectState>,
}

/// What the persist stage produced this tick. The server takes it after each tick.
#[derive(Resource, Debug, Default)]
pub struct WriteSetOut(pub WriteSet);

/// Makes unique ids without touching the OS: a SplitMix64 stream, seeded by the server
/// from a random UUID and by tests with a constant.
#[derive(Resource, Debug, Clone)]
pub struct IdGen {
    state: u64,
    salt: u64,
    /// Millisecond and count of the last time-ordered id.
    last_ordered: (i64, u16),
}

impl IdGen {
    /// A generator whose stream is fixed by `seed`.
    pub fn from_seed(seed: u128) -> Self {
        Self {
            state: seed as u64,
            salt: (seed >> 64) as u64,
            last_ordered: (i64::MIN, 0),
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state ^ self.salt;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A version-7 UUID for time `unix_ms`: ids made in the same millisecond still sort in
    /// the order they were made (a 12-bit counter follows the time), so rows keyed by
    /// (time, id), such as chat lines, page in the order they happened.
    pub fn time_ordered(&mut self, unix_ms: i64) -> Uuid {
        let (last_ms, count) = self.last_ordered;
        let (ms, count) = if unix_ms > last_ms {
            (unix_ms, 0)
        } else if count < 0x0FFF {
            (last_ms, count + 1)
        } else {
            (last_ms + 1, 0)
        };
        self.last_ordered = (ms, count);
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        bytes[6] = 0x70 | (count >> 8) as u8;
        bytes[7] = count as u8;
        bytes[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        bytes[8] = (bytes[8] & 0x3F) | 0x80;
        Uuid::from_bytes(bytes)
    }

    /// A new random-looking version-4 UUID.
    pub fn uuid(&mut self) -> Uuid {
        let bits = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
        uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid()
    }
}

impl Default for IdGen {
    fn default() -> Self {
        Self::from_seed(0x5EED)
    }
}

/// Finds entities by the ids the outside world uses.
#[derive(Resource, Debug, Default)]
pub struct Index {
    /// Session entity of each connection.
    pub sessions: HashMap<ConnId, Entity>,
    /// Space entity of each loaded space name.
    pub spaces: HashMap<Arc<str>, Entity>,
    /// Object entity of each object id.
    pub objects: HashMap<Uuid, Entity>,
    /// Space names being loaded, with the sessions waiting for each.
    pub loading: HashMap<Arc<str>, Vec<Entity>>,
}

/// Things that happened this tick that later stages need and that leave no entity to
/// query: removals, departures, and the rows handlers produced. Cleared at the end of the
/// tick.
#[derive(Resource, Debug, Default)]
pub struct TickLog {
    /// Objects removed: (space entity, object id).
    pub removed: Vec<(Entity, Uuid)>,
    /// People who left: (space entity, user id).
    pub left: Vec<(Entity, Uuid)>,
    /// Rows the handlers produced directly: sessions, chat lines, screen shares, visits
    /// and events. Objects are not here: the persist stage finds changed and removed ones
    /// itself.
    pub rows: crate::Rows,
    /// Spaces whose members changed.
    pub membership_changed: Vec<Entity>,
}

#[cfg(test)]
mod id_tests {
    use super::IdGen;

    #[test]
    fn time_ordered_ids_sort_in_the_order_they_were_made() {
        let mut ids = IdGen::default();
        let made: Vec<_> = [5, 5, 5, 6, 6, 4]
            .into_iter()
            .map(|ms| ids.time_ordered(ms))
            .collect();
        let mut sorted = made.clone();
        sorted.sort();
        assert_eq!(
            made, sorted,
            "same millisecond and a clock step back keep the order"
        );
        assert!(made.iter().all(|id| id.get_version_num() == 7));
        let mut text: Vec<String> = made.iter().map(ToString::to_string).collect();
        text.sort();
        assert_eq!(
            text,
            made.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
    }
}
