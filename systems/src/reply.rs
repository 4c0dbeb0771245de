//! How command handlers answer: queueing an event for a connection, refusing a command
//! (and counting the refusal as a strike), and logging what happened. Used by `ingest` and
//! every feature's handlers alike, so none of them depends on another.

use bevy_ecs::prelude::*;
use uuid::Uuid;

use crate::components::{InSpace, Session, Space};
use crate::strikes::Strikes;
use crate::{ConnId, ErrorKind, Event, EventKind, EventRecord, Outbox, Outgoing, Recipients};
use crate::{SimTime, TickLog};

/// Adds an event by `session` (in `space`, about `object`) to the event log.
pub(crate) fn log_event(
    world: &mut World,
    session: Entity,
    kind: EventKind,
    space: Option<Entity>,
    object: Option<Uuid>,
) {
    let Some((session_id, user)) = world.get::<Session>(session).map(|s| (s.id, s.user)) else {
        return;
    };
    let space = space
        .and_then(|space| world.get::<Space>(space))
        .map(|s| s.id);
    let at_ms = world.resource::<SimTime>().unix_ms;
    let event = EventRecord {
        kind,
        space,
        user,
        session: session_id,
        object,
        at_ms,
    };
    world.resource_mut::<TickLog>().rows.events.push(event);
}

/// Queues `event` for one connection.
pub(crate) fn send(world: &mut World, conn: ConnId, event: Event) {
    world.resource_mut::<Outbox>().0.push(Outgoing {
        to: Recipients::One(conn),
        event,
    });
}

/// The connection of a session entity.
pub(crate) fn conn_of(world: &World, session: Entity) -> Option<ConnId> {
    world.get::<Session>(session).map(|s| s.conn)
}

/// The space a session is in, or a `not_joined` refusal.
pub(crate) fn joined_space(world: &mut World, session: Entity) -> Option<Entity> {
    let space = world.get::<InSpace>(session).map(|s| s.0);
    if space.is_none() {
        refuse(
            world,
            session,
            ErrorKind::NotJoined,
            "join a space first".into(),
        );
    }
    space
}

/// The `ref` of the command being applied, which its refusals carry.
#[derive(Resource, Debug, Default)]
pub(crate) struct CurrentRequest(pub Option<u32>);

/// Tells a session why its command was refused, without counting it against the session.
pub(crate) fn send_error(world: &mut World, session: Entity, kind: ErrorKind, message: String) {
    let request = world.get_resource::<CurrentRequest>().and_then(|r| r.0);
    if let Some(conn) = conn_of(world, session) {
        send(
            world,
            conn,
            Event::Error {
                kind,
                message,
                request,
            },
        );
    }
}

/// Refuses a command and counts it on the connection's [`Strikes`], which its edge task
/// counts refusals on too; a connection over the limit is closed.
pub(crate) fn refuse(world: &mut World, session: Entity, kind: ErrorKind, message: String) {
    send_error(world, session, kind, message);
    let now_ms = world.resource::<SimTime>().unix_ms;
    let Some(strikes) = world.get::<Strikes>(session).cloned() else {
        return;
    };
    if strikes.hit(now_ms)
        && let Some(conn) = conn_of(world, session)
    {
        let reason = strikes.reason();
        send(world, conn, Event::Close { reason });
    }
}
