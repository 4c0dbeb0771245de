//! Chat: a line said in a space goes to everyone there, into the space's recent history,
//! and to the store.

use std::sync::Arc;

use bevy_ecs::prelude::*;

use crate::components::{ChatLog, JustJoined, Session, Space, SpaceContents};
use crate::reply::{joined_space, log_event};
use crate::{
    ChatLine, Event, EventKind, IdGen, Limits, Outbox, Outgoing, Recipients, SimTime, TickLog,
};

/// `chat`: broadcasts a line to the session's space.
pub(crate) fn say(world: &mut World, session: Entity, text: Arc<str>) {
    let Some(space) = joined_space(world, session) else {
        return;
    };
    let Some((from, name)) = world
        .get::<Session>(session)
        .map(|s| (s.user, s.name.clone()))
    else {
        return;
    };
    let Some(space_id) = world.get::<Space>(space).map(|s| s.id) else {
        return;
    };
    let at_ms = world.resource::<SimTime>().unix_ms;
    let id = world.resource_mut::<IdGen>().time_ordered(at_ms);
    let line = ChatLine {
        id,
        space: space_id,
        from,
        name,
        text,
        at_ms,
    };

    let keep = world.resource::<Limits>().chat_history;
    if let Some(mut log) = world.get_mut::<ChatLog>(space) {
        log.0.push_back(line.clone());
        while log.0.len() > keep {
            log.0.pop_front();
        }
    }
    world.resource_mut::<TickLog>().rows.chat.push(line.clone());
    log_event(world, session, EventKind::Chat, Some(space), None);

    // Sessions that joined this tick get the line in their `joined` history instead.
    let members = world
        .get::<SpaceContents>(space)
        .map(|c| c.members.clone())
        .unwrap_or_default();
    let to: Vec<_> = members
        .iter()
        .filter(|&&m| world.get::<JustJoined>(m).is_none())
        .filter_map(|&m| world.get::<Session>(m).map(|s| s.conn))
        .collect();
    if !to.is_empty() {
        let event = Event::Chat(line);
        world.resource_mut::<Outbox>().0.push(Outgoing {
            to: Recipients::Many(to),
            event,
        });
    }
}
