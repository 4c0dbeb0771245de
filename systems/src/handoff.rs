//! A space leaving this node's world for another node of the cluster (handed over, or
//! found owned elsewhere) and joins of a space another node owns: the people concerned are
//! told where it is (`moved`), so their clients can follow.

use bevy_ecs::prelude::*;
use uuid::Uuid;

use crate::components::{InSpace, SavedVersion, Space};
use crate::replicate::{ObjectData, object_state};
use crate::reply::{conn_of, send, send_error};
use crate::{ErrorKind, Event, NodeAddress, ObjectRecord, TickLog};

/// A join waited for a space that another node owns: the sessions waiting for it are told
/// where to go.
pub(crate) fn space_elsewhere(world: &mut World, name: std::sync::Arc<str>, to: NodeAddress) {
    for session in crate::sessions::take_waiting(world, &name) {
        if let Some(conn) = conn_of(world, session) {
            let event = Event::Moved {
                space: name.clone(),
                to: to.clone(),
            };
            send(world, conn, event);
        }
    }
}

/// The space `space_id` leaves this world for `to` (unknown: whoever is in it joins
/// again and is routed). What changed in it and is not yet handed to the writer is, first,
/// so that a hand-off loses nothing; then its people are told (`moved`, or `unavailable`
/// when `to` is unknown) and taken out, and its entities go without being written.
pub(crate) fn unload_space(world: &mut World, space_id: Uuid, to: Option<NodeAddress>) {
    let Some(space) = crate::sessions::space_by_id(world, space_id) else {
        return;
    };
    save_unsaved(world, space, space_id);
    let name = world
        .get::<Space>(space)
        .expect("a space entity has its Space")
        .name
        .clone();
    let tell = |world: &mut World, session: Entity| match &to {
        Some(to) => {
            if let Some(conn) = conn_of(world, session) {
                let event = Event::Moved {
                    space: name.clone(),
                    to: to.clone(),
                };
                send(world, conn, event);
            }
        }
        None => {
            let message = format!("space {name:?} moved to another node; join it again");
            send_error(world, session, ErrorKind::Unavailable, message);
        }
    };
    crate::deletion::take_out(world, space, tell);
}

/// Hands the space's objects whose latest version is not written yet, and its objects
/// removed this tick, to the tick log, as the persist stage would have at the tick's end.
fn save_unsaved(world: &mut World, space: Entity, space_id: Uuid) {
    let mut query = world.query::<(ObjectData, &InSpace, &SavedVersion)>();
    let unsaved: Vec<ObjectRecord> = query
        .iter(world)
        .filter(|(data, in_space, saved)| in_space.0 == space && saved.0 != data.5.0)
        .map(|(data, _, _)| ObjectRecord {
            space: space_id,
            state: object_state(data),
        })
        .collect();
    let mut log = world.resource_mut::<TickLog>();
    let removed: Vec<(Uuid, Uuid)> = log
        .removed
        .iter()
        .filter(|(from, _)| *from == space)
        .map(|&(_, id)| (space_id, id))
        .collect();
    log.removed.retain(|(from, _)| *from != space);
    log.rows.deleted.extend(removed);
    log.rows.objects.extend(unsaved);
}
