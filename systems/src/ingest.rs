//! The ingest stage: applies the tick's inputs in arrival order, one handler per command,
//! and the helpers handlers use to answer or refuse a client.
//!
//! Inputs are applied by one exclusive system, in order, because a client's commands depend
//! on each other (`join` then `spawn` then `move` in one tick must act in that order).

use bevy_ecs::prelude::*;

use uuid::Uuid;

use crate::components::{InSpace, Session, Space, Strikes};
use crate::{
    Command, ConnId, ErrorKind, Event, EventKind, EventRecord, Inbox, Index, Input, Limits, Outbox,
    Outgoing, Recipients, SimTime, TickLog, chat, objects, sessions, sharing,
};

/// Applies every input queued in [`Inbox`].
pub fn apply_inputs(world: &mut World) {
    let mut inputs = std::mem::take(&mut world.resource_mut::<Inbox>().0);
    for input in inputs.drain(..) {
        match input {
            Input::Connect {
                conn,
                session,
                user,
                name,
                admin,
                meta,
            } => sessions::connect(world, conn, session, user, name, admin, meta),
            Input::Disconnect { conn } => sessions::disconnect(world, conn),
            Input::SpaceLoaded { name, result } => sessions::space_loaded(world, name, result),
            Input::AccessChanged { space, access } => {
                sessions::access_changed(world, space, access)
            }
            Input::Log(event) => world.resource_mut::<TickLog>().events.push(event),
            Input::Command { conn, command } => {
                let Some(&session) = world.resource::<Index>().sessions.get(&conn) else {
                    // The connection ended earlier in this tick; its last commands are moot.
                    continue;
                };
                apply_command(world, session, command);
            }
        }
    }
    // Hand the emptied buffer back so its allocation is reused next tick.
    world.resource_mut::<Inbox>().0 = inputs;
}

fn apply_command(world: &mut World, session: Entity, command: Command) {
    match command {
        Command::Join { space } => sessions::join(world, session, space),
        Command::Leave => sessions::leave(world, session),
        Command::Pose { transform } => sessions::pose(world, session, transform),
        Command::Spawn {
            client_ref,
            model,
            transform,
            props,
        } => objects::spawn(world, session, client_ref, model, transform, props),
        Command::Move { id, transform } => objects::move_object(world, session, id, transform),
        Command::SetProps { id, props } => objects::set_props(world, session, id, props),
        Command::Despawn { id } => objects::despawn(world, session, id),
        Command::Chat { text } => chat::say(world, session, text),
        Command::ShareStart { kind } => sharing::start(world, session, kind),
        Command::ShareStop => sharing::stop(world, session),
        Command::Signal { to, data } => sharing::signal(world, session, to, data),
    }
}

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
    world.resource_mut::<TickLog>().events.push(event);
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

/// Tells a session why its command was refused, without counting it against the session.
pub(crate) fn send_error(world: &mut World, session: Entity, kind: ErrorKind, message: String) {
    if let Some(conn) = conn_of(world, session) {
        send(world, conn, Event::Error { kind, message });
    }
}

/// Refuses a command and counts it; a session refused more than `Limits::max_strikes` times
/// within `Limits::strike_window_ticks` is disconnected.
pub(crate) fn refuse(world: &mut World, session: Entity, kind: ErrorKind, message: String) {
    send_error(world, session, kind, message);
    let tick = world.resource::<SimTime>().tick;
    let limits = world.resource::<Limits>().clone();
    let Some(mut strikes) = world.get_mut::<Strikes>(session) else {
        return;
    };
    if tick.saturating_sub(strikes.since_tick) >= limits.strike_window_ticks {
        *strikes = Strikes {
            count: 0,
            since_tick: tick,
        };
    }
    strikes.count += 1;
    if strikes.count > limits.max_strikes
        && let Some(conn) = conn_of(world, session)
    {
        let reason = format!(
            "closed after {} refused messages within {} ticks",
            limits.max_strikes + 1,
            limits.strike_window_ticks
        );
        send(world, conn, Event::Close { reason });
    }
}
