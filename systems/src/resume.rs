//! Sessions whose connection dropped, held for a grace period so that their client can
//! take them back on a new connection: same session, user, space and avatar, and nobody
//! else in the space is told anything happened.

use bevy_ecs::prelude::*;

use crate::components::{InSpace, Session};
use crate::reply::send;
use crate::{ConnId, Event, Index, SimTime, Strikes};

/// A session without a connection, until `until_ms` (ms since the epoch).
#[derive(Component, Debug, Clone, Copy)]
pub struct Suspended {
    /// When it ends for good.
    pub until_ms: i64,
}

/// A session taken back on a new connection this tick: it gets a fresh snapshot of its
/// space (what it missed while away) instead of this tick's delta, and no one is told.
#[derive(Component, Debug, Default)]
pub struct Resumed;

/// The connection of a session went away: the session stays until `until_ms`.
pub(crate) fn suspend(world: &mut World, conn: ConnId, until_ms: i64) {
    if let Some(&session) = world.resource::<Index>().sessions.get(&conn) {
        world.entity_mut(session).insert(Suspended { until_ms });
    }
}

/// A client took back the session of connection `from` on connection `conn`, with that
/// connection's strike counter. Too late (the session is gone): `conn` is closed.
pub(crate) fn resume(world: &mut World, from: ConnId, conn: ConnId, strikes: Strikes) {
    let Some(session) = world.resource_mut::<Index>().sessions.remove(&from) else {
        let reason = "the session to resume has ended; connect again without resume".into();
        send(world, conn, Event::Close { reason });
        return;
    };
    world.resource_mut::<Index>().sessions.insert(conn, session);
    if let Some(mut info) = world.get_mut::<Session>(session) {
        info.conn = conn;
    }
    let in_space = world.get::<InSpace>(session).is_some();
    let mut entity = world.entity_mut(session);
    entity.remove::<Suspended>().insert(strikes);
    if in_space {
        entity.insert(Resumed);
    }
}

/// The connections of every session held now (the server ends them when it stops).
pub fn held_connections(world: &mut World) -> Vec<ConnId> {
    let mut held = world.query_filtered::<&Session, With<Suspended>>();
    held.iter(world).map(|s| s.conn).collect()
}

/// Ends every suspended session whose grace is over, as if its connection ended now.
pub(crate) fn expire(world: &mut World) {
    let now = world.resource::<SimTime>().unix_ms;
    let mut over = world.query::<(&Session, &Suspended)>();
    let expired: Vec<ConnId> = over
        .iter(world)
        .filter(|(_, s)| s.until_ms <= now)
        .map(|(session, _)| session.conn)
        .collect();
    for conn in expired {
        crate::sessions::disconnect(world, conn);
    }
}
