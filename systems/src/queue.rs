//! Capacity and fairness: a space holds at most [`Limits::max_people_per_space`] people;
//! those who come when it is full wait in its join queue, first come first in, and are
//! told their place while they wait. Server admins and the space's own admins (events,
//! moderators) never wait.

use std::collections::VecDeque;

use bevy_ecs::prelude::*;

use crate::components::{Access, Session, Space, SpaceContents};
use crate::reply::{conn_of, send, send_error};
use crate::{ErrorKind, Event, Limits, SimTime};

/// Those waiting would be told their new place at most this often (per space), so that a
/// long line moving by one each tick costs one message per person per second, not per tick.
pub const POSITION_UPDATE_MS: i64 = 1_000;

/// The line of a full space, first in line first. On every space entity.
#[derive(Component, Debug, Default)]
pub struct JoinQueue {
    line: VecDeque<Entity>,
    /// The line changed since its places were last sent.
    moved: bool,
    /// When places were last sent.
    told_ms: i64,
}

/// A session waiting in the join queue of this space (it stays in the space it was in,
/// if any, until it is let in).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting(pub Entity);

/// Whether `session` may enter `space` now, as far as its capacity goes: there is no limit,
/// or it is under the limit and nobody waits (nobody jumps the line), or the session never
/// waits (an admin of the server or of the space), or another session of the same user is
/// in the space (entering replaces it, so the count does not rise).
pub(crate) fn has_room(world: &World, session: Entity, space: Entity) -> bool {
    let limit = world.resource::<Limits>().max_people_per_space;
    if limit == 0 || never_waits(world, session, space) {
        return true;
    }
    let Some(contents) = world.get::<SpaceContents>(space) else {
        return true;
    };
    let line_is_empty = world
        .get::<JoinQueue>(space)
        .is_none_or(|q| q.line.is_empty());
    if contents.members.len() < limit && line_is_empty {
        return true;
    }
    let user = world.get::<Session>(session).map(|s| s.user);
    contents
        .members
        .iter()
        .any(|&m| m != session && world.get::<Session>(m).map(|s| s.user) == user)
}

/// Server admins and the space's admins (its owner included) enter a full space.
fn never_waits(world: &World, session: Entity, space: Entity) -> bool {
    world.get::<Session>(session).is_some_and(|s| {
        s.admin
            || world
                .get::<Access>(space)
                .is_some_and(|a| a.0.is_admin(s.user))
    })
}

/// Puts `session` at the end of the line of the full `space` and tells it its place (or
/// tells it its place again if it already waits there). A full line refuses it with `full`
/// (not counted as a strike: coming to a popular space is no abuse).
pub(crate) fn wait(world: &mut World, session: Entity, space: Entity) {
    let Some(name) = world.get::<Space>(space).map(|s| s.name.clone()) else {
        return;
    };
    if world.get::<Waiting>(session) != Some(&Waiting(space)) {
        stop_waiting(world, session);
        let longest = world.resource::<Limits>().join_queue_per_space;
        let Some(mut queue) = world.get_mut::<JoinQueue>(space) else {
            return;
        };
        if queue.line.len() >= longest {
            let message = format!(
                "space {name:?} is full and {longest} people already wait to enter it: try again later"
            );
            send_error(world, session, ErrorKind::Full, message);
            return;
        }
        queue.line.push_back(session);
        world.entity_mut(session).insert(Waiting(space));
    }
    let position = place_of(world, session, space);
    if let (Some(conn), Some(position)) = (conn_of(world, session), position) {
        send(
            world,
            conn,
            Event::Queued {
                space: name,
                position,
            },
        );
    }
}

/// The session's place in the line of `space`, 1 for the first.
fn place_of(world: &World, session: Entity, space: Entity) -> Option<u32> {
    let queue = world.get::<JoinQueue>(space)?;
    let at = queue.line.iter().position(|&s| s == session)?;
    Some(u32::try_from(at + 1).unwrap_or(u32::MAX))
}

/// Takes `session` out of the line it waits in, if any; returns the space it waited for.
pub(crate) fn stop_waiting(world: &mut World, session: Entity) -> Option<Entity> {
    let Waiting(space) = world.get::<Waiting>(session).copied()?;
    world.entity_mut(session).remove::<Waiting>();
    if let Some(mut queue) = world.get_mut::<JoinQueue>(space)
        && let Some(at) = queue.line.iter().position(|&s| s == session)
    {
        queue.line.remove(at);
        queue.moved = true;
    }
    Some(space)
}

/// Empties the line of `space` (it leaves the world): those who waited, in order.
pub(crate) fn take_all(world: &mut World, space: Entity) -> Vec<Entity> {
    let line = world
        .get_mut::<JoinQueue>(space)
        .map(|mut q| std::mem::take(&mut q.line))
        .unwrap_or_default();
    for &session in &line {
        world.entity_mut(session).remove::<Waiting>();
    }
    line.into()
}

/// Who waits for `space`, first in line first.
pub(crate) fn waiting_for(world: &World, space: Entity) -> Vec<Entity> {
    world
        .get::<JoinQueue>(space)
        .map(|q| q.line.iter().copied().collect())
        .unwrap_or_default()
}

/// Lets the first in line into spaces that have room again (someone left), and tells
/// those still waiting their new place, at most every [`POSITION_UPDATE_MS`] per space.
pub fn admit_waiting(world: &mut World) {
    let limit = world.resource::<Limits>().max_people_per_space;
    let now_ms = world.resource::<SimTime>().unix_ms;
    let mut lines = world.query::<(Entity, &JoinQueue)>();
    let spaces: Vec<Entity> = lines
        .iter(world)
        .filter(|(_, q)| !q.line.is_empty() || q.moved)
        .map(|(space, _)| space)
        .collect();
    for space in spaces {
        loop {
            let members = world
                .get::<SpaceContents>(space)
                .map_or(0, |c| c.members.len());
            let first = world
                .get::<JoinQueue>(space)
                .and_then(|q| q.line.front().copied());
            let Some(first) = first.filter(|_| limit == 0 || members < limit) else {
                break;
            };
            stop_waiting(world, first);
            crate::sessions::admit(world, first, space);
        }
        let Some(mut queue) = world.get_mut::<JoinQueue>(space) else {
            continue;
        };
        if !queue.moved || now_ms - queue.told_ms < POSITION_UPDATE_MS {
            continue;
        }
        queue.moved = false;
        queue.told_ms = now_ms;
        let Some(name) = world.get::<Space>(space).map(|s| s.name.clone()) else {
            continue;
        };
        for (at, session) in waiting_for(world, space).into_iter().enumerate() {
            if let Some(conn) = conn_of(world, session) {
                let position = u32::try_from(at + 1).unwrap_or(u32::MAX);
                let space = name.clone();
                send(world, conn, Event::Queued { space, position });
            }
        }
    }
}
