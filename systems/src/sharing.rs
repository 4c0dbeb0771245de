//! Screen sharing and WebRTC signaling: who shares in a space (told to everyone there and
//! kept as a `screen_shares` row), and opaque signaling messages relayed to one person in
//! the same space, never beyond it.

use std::sync::Arc;

use bevy_ecs::prelude::*;
use uuid::Uuid;

use crate::components::{InSpace, ScreenShares, Session, Sharing, Space, SpaceContents};
use crate::reply::{joined_space, log_event, refuse, send};
use crate::{
    ErrorKind, Event, EventKind, IdGen, Outbox, Outgoing, Recipients, ShareKind, ShareRecord,
    ShareState, SimTime, TickLog,
};

/// `screen_share_start`: the session shares `kind` in its space (a new kind replaces the
/// old share).
pub(crate) fn start(world: &mut World, session: Entity, kind: ShareKind) {
    let Some(space) = joined_space(world, session) else {
        return;
    };
    if world
        .get::<Sharing>(session)
        .is_some_and(|s| s.0.kind == kind)
    {
        return;
    }
    stop(world, session);
    let Some((session_id, user, name)) = world
        .get::<Session>(session)
        .map(|s| (s.id, s.user, s.name.clone()))
    else {
        return;
    };
    let Some(space_id) = world.get::<Space>(space).map(|s| s.id) else {
        return;
    };
    let record = ShareRecord {
        id: world.resource_mut::<IdGen>().uuid(),
        space: space_id,
        session: session_id,
        user,
        kind,
        started_ms: world.resource::<SimTime>().unix_ms,
        ended_ms: None,
    };
    world
        .resource_mut::<TickLog>()
        .rows
        .shares
        .push(record.clone());
    world.entity_mut(session).insert(Sharing(record));
    let share = ShareState { user, name, kind };
    if let Some(mut shares) = world.get_mut::<ScreenShares>(space) {
        shares.0.push(share.clone());
    }
    log_event(world, session, EventKind::ShareStart, Some(space), None);
    tell_space(
        world,
        space,
        Event::ScreenShare {
            share,
            active: true,
        },
    );
}

/// `screen_share_stop`, and leaving or disconnecting while sharing.
pub(crate) fn stop(world: &mut World, session: Entity) {
    let Some(Sharing(record)) = world.entity_mut(session).take::<Sharing>() else {
        return;
    };
    let ended_ms = world.resource::<SimTime>().unix_ms;
    let kind = record.kind;
    let user = record.user;
    world
        .resource_mut::<TickLog>()
        .rows
        .shares
        .push(ShareRecord {
            ended_ms: Some(ended_ms),
            ..record
        });
    let Some(InSpace(space)) = world.get::<InSpace>(session).copied() else {
        return;
    };
    let name = world
        .get::<Session>(session)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    if let Some(mut shares) = world.get_mut::<ScreenShares>(space) {
        shares.0.retain(|s| s.user != user);
    }
    log_event(world, session, EventKind::ShareStop, Some(space), None);
    let share = ShareState { user, name, kind };
    tell_space(
        world,
        space,
        Event::ScreenShare {
            share,
            active: false,
        },
    );
}

/// `signal`: relays `data` to the session of user `to` in the same space.
pub(crate) fn signal(world: &mut World, session: Entity, to: Uuid, data: Arc<str>) {
    let Some(space) = joined_space(world, session) else {
        return;
    };
    let Some(from) = world.get::<Session>(session).map(|s| s.user) else {
        return;
    };
    let members = world
        .get::<SpaceContents>(space)
        .map(|c| c.members.clone())
        .unwrap_or_default();
    let peer = members
        .iter()
        .filter_map(|&m| world.get::<Session>(m))
        .find(|s| s.user == to && s.user != from)
        .map(|s| s.conn);
    match peer {
        Some(conn) => send(world, conn, Event::Signal { from, data }),
        None => {
            let message = format!("no other user {to} in this space to signal");
            refuse(world, session, ErrorKind::NotFound, message);
        }
    }
}

fn tell_space(world: &mut World, space: Entity, event: Event) {
    let to: Vec<_> = world
        .get::<SpaceContents>(space)
        .map(|c| c.members.clone())
        .unwrap_or_default()
        .iter()
        .filter_map(|&m| world.get::<Session>(m).map(|s| s.conn))
        .collect();
    if !to.is_empty() {
        world.resource_mut::<Outbox>().0.push(Outgoing {
            to: Recipients::Many(to),
            event,
        });
    }
}
