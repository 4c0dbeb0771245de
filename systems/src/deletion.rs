//! Deleting a space (`DELETE /api/spaces/{id}`): everyone in it is told and taken out, its
//! objects and entity leave the world, and the store is asked to delete it after every
//! row of the space written before.

use std::collections::{HashSet, VecDeque};

use bevy_ecs::prelude::*;
use uuid::Uuid;

use crate::components::{ObjectId, Space, SpaceContents};
use crate::reply::send_error;
use crate::{ErrorKind, Index, SpaceLoads, TickLog};

/// How many deleted space ids the world remembers, to refuse a load of one that the store
/// answered before the deletion reached it. Such answers arrive within seconds; this
/// bounds the memory a stream of deletions can take.
const REMEMBERED: usize = 1024;

/// Spaces deleted recently (newest last), so that a load answered from before the
/// deletion never brings one back.
#[derive(Resource, Debug, Default)]
pub struct DeletedSpaces {
    order: VecDeque<Uuid>,
    ids: HashSet<Uuid>,
}

impl DeletedSpaces {
    /// Whether `space` was deleted recently.
    pub fn contains(&self, space: Uuid) -> bool {
        self.ids.contains(&space)
    }

    fn remember(&mut self, space: Uuid) {
        if !self.ids.insert(space) {
            return;
        }
        self.order.push_back(space);
        if self.order.len() > REMEMBERED
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
    }
}

/// Deletes the space `space_id`, loaded, loading or not: whoever is in it or waits for it
/// gets `not_found` (and `left`), its objects leave the world without being written, and
/// the store deletes it (with every row of it) once what was written before is.
pub(crate) fn delete_space(world: &mut World, space_id: Uuid) {
    world
        .get_resource_or_init::<DeletedSpaces>()
        .remember(space_id);
    world
        .resource_mut::<TickLog>()
        .rows
        .spaces_deleted
        .push(space_id);
    let Some(space) = crate::sessions::space_by_id(world, space_id) else {
        return;
    };
    let name = world
        .get::<Space>(space)
        .expect("a space entity has its Space")
        .name
        .clone();
    let message = format!("space {name:?} was deleted");
    take_out(world, space, |world, session| {
        send_error(world, session, ErrorKind::NotFound, message.clone());
    });
}

/// Takes a space out of the world: everyone in it is told (`tell`) and leaves, those who
/// wait for it are told too, its objects and entity go (without being written: whoever
/// calls this decided what becomes of its rows).
pub(crate) fn take_out(world: &mut World, space: Entity, tell: impl Fn(&mut World, Entity)) {
    let name = world
        .get::<Space>(space)
        .expect("a space entity has its Space")
        .name
        .clone();
    let members = world
        .get::<SpaceContents>(space)
        .map(|c| c.members.clone())
        .unwrap_or_default();
    for member in members {
        tell(world, member);
        crate::sessions::leave(world, member);
    }
    // A space still entering the world: its remaining objects never do, and those who
    // wait for it are told.
    world
        .resource_mut::<SpaceLoads>()
        .0
        .retain(|load| load.space != space);
    for waiting in crate::sessions::take_waiting(world, &name) {
        tell(world, waiting);
    }
    for queued in crate::queue::take_all(world, space) {
        tell(world, queued);
    }
    let objects: Vec<(Entity, Option<Uuid>)> = world
        .get::<SpaceContents>(space)
        .map(|c| c.objects.iter().copied().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|object| (object, world.get::<ObjectId>(object).map(|o| o.0)))
        .collect();
    let mut index = world.resource_mut::<Index>();
    if index.spaces.get(&name) == Some(&space) {
        index.spaces.remove(&name);
    }
    for id in objects.iter().filter_map(|&(_, id)| id) {
        index.objects.remove(&id);
    }
    for (object, _) in objects {
        world.despawn(object);
    }
    world.despawn(space);
}
