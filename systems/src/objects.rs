//! World objects: spawn, move, set props, despawn. Every change bumps [`Version`], which is
//! what replication and persistence detect.

use std::sync::Arc;

use bevy_ecs::prelude::*;
use uuid::Uuid;

use crate::components::{
    Access, InSpace, Model, ObjectId, Owner, Props, SavedVersion, Session, SpaceContents,
    Transform, Version,
};
use crate::reply::{conn_of, joined_space, log_event, refuse, send};
use crate::{ErrorKind, Event, EventKind, IdGen, Index, Limits, TickLog};

/// `spawn`: creates an object in the session's space, owned by the session's user.
pub(crate) fn spawn(
    world: &mut World,
    session: Entity,
    client_ref: u32,
    model: Arc<str>,
    transform: Transform,
    props: Arc<str>,
) {
    let Some(space) = joined_space(world, session) else {
        return;
    };
    let max = world.resource::<Limits>().max_objects_per_space;
    let still_loading = crate::sessions::objects_still_loading(world, space);
    if world
        .get::<SpaceContents>(space)
        .is_some_and(|c| c.objects.len() + still_loading >= max)
    {
        let message = format!("this space holds the maximum of {max} objects; despawn some first");
        refuse(world, session, ErrorKind::TooLarge, message);
        return;
    }
    let Some(owner) = world.get::<Session>(session).map(|s| s.user) else {
        return;
    };
    let id = world.resource_mut::<IdGen>().uuid();
    let slot = crate::sessions::take_object_slot(world, space);
    let object = world
        .spawn((
            ObjectId(id),
            InSpace(space),
            slot,
            Model(model),
            transform,
            Props(props),
            Owner(owner),
            Version(1),
            SavedVersion(0),
        ))
        .id();
    if let Some(mut contents) = world.get_mut::<SpaceContents>(space) {
        contents.objects.insert(object);
    }
    world.resource_mut::<Index>().objects.insert(id, object);
    log_event(world, session, EventKind::Spawn, Some(space), Some(id));
    if let Some(conn) = conn_of(world, session) {
        send(world, conn, Event::Spawned { client_ref, id });
    }
}

/// `move`: sets an object's transform. Moving it to where it already is changes nothing.
pub(crate) fn move_object(world: &mut World, session: Entity, id: Uuid, transform: Transform) {
    let Some(object) = object_in_reach(world, session, id) else {
        return;
    };
    let changed = match world.get_mut::<Transform>(object) {
        Some(mut current) if *current != transform => {
            *current = transform;
            true
        }
        _ => false,
    };
    if changed {
        bump_version(world, object);
    }
}

/// `set_props`: replaces an object's props.
pub(crate) fn set_props(world: &mut World, session: Entity, id: Uuid, props: Arc<str>) {
    let Some(object) = object_in_reach(world, session, id) else {
        return;
    };
    let changed = match world.get_mut::<Props>(object) {
        Some(mut current) if current.0 != props => {
            current.0 = props;
            true
        }
        _ => false,
    };
    if changed {
        bump_version(world, object);
    }
}

/// `despawn`: removes an object.
pub(crate) fn despawn(world: &mut World, session: Entity, id: Uuid) {
    let Some(object) = object_in_reach(world, session, id) else {
        return;
    };
    let Some(InSpace(space)) = world.get::<InSpace>(object).copied() else {
        return;
    };
    world.resource_mut::<Index>().objects.remove(&id);
    if let Some(mut contents) = world.get_mut::<SpaceContents>(space) {
        contents.objects.remove(&object);
    }
    if let Some(slot) = world.get::<crate::Slot>(object).copied()
        && let Some(mut slots) = world.get_mut::<crate::SpaceSlots>(space)
    {
        slots.objects.give_back(slot);
    }
    world.despawn(object);
    world.resource_mut::<TickLog>().removed.push((space, id));
    log_event(world, session, EventKind::Despawn, Some(space), Some(id));
}

fn bump_version(world: &mut World, object: Entity) {
    if let Some(mut version) = world.get_mut::<Version>(object) {
        version.0 += 1;
    }
}

/// The object `id` if it exists in the session's space and the session may change it (its
/// user owns it or administers the space); otherwise a refusal. An object in another space
/// is reported as not found: sessions cannot probe other spaces.
fn object_in_reach(world: &mut World, session: Entity, id: Uuid) -> Option<Entity> {
    let space = joined_space(world, session)?;
    let object = world.resource::<Index>().objects.get(&id).copied();
    match object {
        Some(object) if world.get::<InSpace>(object) == Some(&InSpace(space)) => {
            let owner = world.get::<Owner>(object).map(|o| o.0);
            let allowed = world.get::<Session>(session).is_some_and(|s| {
                Some(s.user) == owner
                    || s.admin
                    || world
                        .get::<Access>(space)
                        .is_some_and(|a| a.0.is_admin(s.user))
            });
            if allowed {
                return Some(object);
            }
            let message = format!(
                "object {id} belongs to someone else; only its owner or an admin of this space may change it"
            );
            refuse(world, session, ErrorKind::Forbidden, message);
            None
        }
        _ => {
            refuse(
                world,
                session,
                ErrorKind::NotFound,
                format!("no object {id} in this space"),
            );
            None
        }
    }
}
