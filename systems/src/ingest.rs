//! The ingest stage: applies the tick's inputs in arrival order, one handler per command.
//! Handlers answer through [`crate::reply`].
//!
//! Inputs are applied by one exclusive system, in order, because a client's commands depend
//! on each other (`join` then `spawn` then `move` in one tick must act in that order).

use bevy_ecs::prelude::*;

use crate::reply::CurrentRequest;
use crate::{Command, Inbox, Index, Input, TickLog, chat, objects, resume, sessions, sharing};

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
                strikes,
                continued_from_ms,
            } => {
                let who = sessions::Arrival {
                    conn,
                    id: session,
                    user,
                    name,
                    admin,
                    meta,
                    continued_from_ms,
                };
                sessions::connect(world, who, strikes)
            }
            Input::Disconnect { conn } => sessions::disconnect(world, conn),
            Input::HandOver { conn } => sessions::hand_over(world, conn),
            Input::Suspend { conn, until_ms } => resume::suspend(world, conn, until_ms),
            Input::Resume {
                from,
                conn,
                strikes,
            } => resume::resume(world, from, conn, strikes),
            Input::SpaceLoaded { name, result } => sessions::space_loaded(world, name, result),
            Input::AccessChanged { space, access } => {
                sessions::access_changed(world, space, access)
            }
            Input::SpaceDeleted { space } => crate::deletion::delete_space(world, space),
            Input::Log(event) => world.resource_mut::<TickLog>().rows.events.push(event),
            Input::SpaceElsewhere { name, to } => crate::handoff::space_elsewhere(world, name, to),
            Input::SpaceUnload { space, to } => crate::handoff::unload_space(world, space, to),
            Input::Command {
                conn,
                request,
                command,
            } => {
                let Some(&session) = world.resource::<Index>().sessions.get(&conn) else {
                    // The connection ended earlier in this tick; its last commands are moot.
                    continue;
                };
                set_request(world, request);
                apply_command(world, session, command);
                set_request(world, None);
            }
        }
    }
    // Hand the emptied buffer back so its allocation is reused next tick.
    world.resource_mut::<Inbox>().0 = inputs;
    resume::expire(world);
}

/// Sets the `ref` the refusals of the command being applied carry.
fn set_request(world: &mut World, request: Option<u32>) {
    match world.get_resource_mut::<CurrentRequest>() {
        Some(mut current) => current.0 = request,
        None => world.insert_resource(CurrentRequest(request)),
    }
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
