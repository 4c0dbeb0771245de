//! Sessions: connecting, entering and leaving spaces (loading them from the store on first
//! use), and avatar poses.

use std::collections::hash_map::Entry;
use std::sync::Arc;

use bevy_ecs::prelude::*;
use uuid::Uuid;

use crate::components::{
    Access, Avatar, Backfill, ChatLog, InSpace, JustJoined, Model, ObjectId, Owner, Props,
    SavedVersion, ScreenShares, Session, Space, SpaceContents, Transform, Version, WantsSpace,
};
use crate::reply::{conn_of, joined_space, log_event, refuse, send, send_error};
use crate::{
    ConnId, ErrorKind, Event, EventKind, Index, Limits, LoadRequests, LoadedSpace, ObjectState,
    SessionMeta, SessionRecord, SimTime, SpaceAccess, SpaceLoad, SpaceLoads, Strikes, TickLog,
    VisitRecord,
};

/// Who a connecting client is, as its `Connect` input says.
pub(crate) struct Arrival {
    pub(crate) conn: ConnId,
    pub(crate) id: Uuid,
    pub(crate) user: Uuid,
    pub(crate) name: Arc<str>,
    pub(crate) admin: bool,
    pub(crate) meta: SessionMeta,
    /// When it started, if another node handed it over.
    pub(crate) continued_from_ms: Option<i64>,
}

/// A client said hello: its session becomes an entity, holding the strike counter its edge
/// task shares.
pub(crate) fn connect(world: &mut World, arrival: Arrival, strikes: Strikes) {
    let Arrival {
        conn,
        id,
        user,
        name,
        admin,
        meta,
        continued_from_ms,
    } = arrival;
    if world.resource::<Index>().sessions.contains_key(&conn) {
        return;
    }
    let started_ms = continued_from_ms.unwrap_or(world.resource::<SimTime>().unix_ms);
    let info = Session {
        id,
        conn,
        user,
        name,
        admin,
        meta,
        started_ms,
        slot: crate::Slot(0),
    };
    world
        .resource_mut::<TickLog>()
        .rows
        .sessions
        .push(session_record(&info, None));
    let session = world.spawn((info, Avatar::default(), strikes)).id();
    world.resource_mut::<Index>().sessions.insert(conn, session);
    if continued_from_ms.is_none() {
        log_event(world, session, EventKind::Connect, None, None);
    }
}

/// A client's connection ended: it leaves its space and its session entity goes.
pub(crate) fn disconnect(world: &mut World, conn: ConnId) {
    let Some(session) = world.resource_mut::<Index>().sessions.remove(&conn) else {
        return;
    };
    crate::queue::stop_waiting(world, session);
    exit_space(world, session);
    log_event(world, session, EventKind::Disconnect, None, None);
    let ended_ms = world.resource::<SimTime>().unix_ms;
    if let Some(record) = world
        .get::<Session>(session)
        .map(|s| session_record(s, Some(ended_ms)))
    {
        world.resource_mut::<TickLog>().rows.sessions.push(record);
    }
    world.despawn(session);
}

/// Another node took the session of `conn` over: it leaves its space (the people there see
/// it go) and this world, without a disconnect or an end, which the new node records.
pub(crate) fn hand_over(world: &mut World, conn: ConnId) {
    let Some(session) = world.resource_mut::<Index>().sessions.remove(&conn) else {
        return;
    };
    crate::queue::stop_waiting(world, session);
    exit_space(world, session);
    world.despawn(session);
}

fn session_record(session: &Session, ended_ms: Option<i64>) -> SessionRecord {
    SessionRecord {
        id: session.id,
        user: session.user,
        meta: session.meta.clone(),
        started_ms: session.started_ms,
        ended_ms,
    }
}

/// `join`: enter a loaded space at once (or wait in its line if it is full), or ask the
/// store for it and wait.
pub(crate) fn join(world: &mut World, session: Entity, name: Arc<str>) {
    let loaded = world.resource::<Index>().spaces.get(&name).copied();
    if world
        .get::<crate::queue::Waiting>(session)
        .is_some_and(|w| Some(w.0) != loaded)
    {
        // Joining elsewhere gives up one's place in line.
        crate::queue::stop_waiting(world, session);
    }
    if let Some(space) = loaded {
        if world.get::<InSpace>(session) == Some(&InSpace(space)) {
            // Joining the space one is in again: resend its state.
            world.entity_mut(session).insert(JustJoined);
        } else {
            enter(world, session, space);
        }
        return;
    }
    exit_space(world, session);
    world.entity_mut(session).insert(WantsSpace(name.clone()));
    match world.resource_mut::<Index>().loading.entry(name.clone()) {
        Entry::Occupied(mut waiting) => waiting.get_mut().push(session),
        Entry::Vacant(slot) => {
            slot.insert(vec![session]);
            world.resource_mut::<LoadRequests>().0.push(name);
        }
    }
}

/// `leave`: leaves the space one is in, and the line one waits in.
pub(crate) fn leave(world: &mut World, session: Entity) {
    world.entity_mut(session).remove::<WantsSpace>();
    if let Some(waited) = crate::queue::stop_waiting(world, session) {
        let waited = world.get::<Space>(waited).map(|s| s.id);
        if let (Some(conn), Some(space)) = (conn_of(world, session), waited) {
            send(world, conn, Event::Left { space });
        }
        if world.get::<InSpace>(session).is_none() {
            return;
        }
    }
    let Some(space) = joined_space(world, session) else {
        return;
    };
    let space_id = world.get::<Space>(space).map(|s| s.id);
    exit_space(world, session);
    if let (Some(conn), Some(space)) = (conn_of(world, session), space_id) {
        send(world, conn, Event::Left { space });
    }
}

/// `pose`: moves the session's avatar.
pub(crate) fn pose(world: &mut World, session: Entity, transform: Transform) {
    if joined_space(world, session).is_none() {
        return;
    }
    if let Some(mut avatar) = world.get_mut::<Avatar>(session)
        && avatar.0 != transform
    {
        avatar.0 = transform;
    }
}

/// The store answered a load. The space entity is made at once; its objects enter over
/// the next ticks ([`load_slices`]), and the sessions waiting for it enter with the first.
pub(crate) fn space_loaded(world: &mut World, name: Arc<str>, result: Result<LoadedSpace, String>) {
    if let Some(space) = world.resource::<Index>().spaces.get(&name).copied() {
        for session in take_waiting(world, &name) {
            enter(world, session, space);
        }
        return;
    }
    let deleted = |loaded: &LoadedSpace| {
        world
            .get_resource::<crate::deletion::DeletedSpaces>()
            .is_some_and(|d| d.contains(loaded.id))
    };
    match result {
        // The store answered from before the space was deleted.
        Ok(loaded) if deleted(&loaded) => {
            for session in take_waiting(world, &name) {
                let message = format!("space {name:?} was deleted");
                send_error(world, session, ErrorKind::NotFound, message);
            }
        }
        Ok(loaded) => {
            let keep = world.resource::<Limits>().chat_history;
            let skip = loaded.chat.len().saturating_sub(keep);
            let chat = loaded.chat.into_iter().skip(skip).collect();
            let space = spawn_space(world, loaded.id, loaded.name.clone(), chat, loaded.access);
            world.resource_mut::<SpaceLoads>().0.push_back(SpaceLoad {
                space,
                name: loaded.name,
                objects: loaded.objects,
            });
        }
        Err(error) => {
            for session in take_waiting(world, &name) {
                let message = format!("space {name:?} could not be loaded ({error}); retry");
                send_error(world, session, ErrorKind::Unavailable, message);
            }
        }
    }
}

/// Brings at most [`Limits::load_slice_objects`] objects of loading spaces into the world.
/// A space becomes joinable with its first slice, and its waiting sessions enter then: the
/// rest of its objects reach them as they enter the world, a slice per tick, like objects
/// spawned by anyone. So the wait for a big space (a hand-off, a first join) is one slice,
/// not the whole space.
pub fn load_slices(world: &mut World) {
    let mut budget = world.resource::<Limits>().load_slice_objects.max(1);
    while budget > 0 {
        let Some(mut load) = world.resource_mut::<SpaceLoads>().0.pop_front() else {
            return;
        };
        let take = budget.min(load.objects.len());
        budget -= take;
        let slice = load.objects.split_off(load.objects.len() - take);
        spawn_objects(world, load.space, slice);
        let newly_joinable = world
            .resource_mut::<Index>()
            .spaces
            .insert(load.name.clone(), load.space)
            .is_none();
        if newly_joinable {
            for session in take_waiting(world, &load.name) {
                enter(world, session, load.space);
            }
        }
        if !load.objects.is_empty() {
            world.resource_mut::<SpaceLoads>().0.push_front(load);
            return;
        }
    }
}

/// Objects of `space` still to enter the world from the store (0 once it is loaded), so
/// that limits on a space count what it holds, not only what has entered so far.
pub(crate) fn objects_still_loading(world: &World, space: Entity) -> usize {
    world
        .resource::<SpaceLoads>()
        .0
        .iter()
        .filter(|load| load.space == space)
        .map(|load| load.objects.len())
        .sum()
}

/// Ends the wait for `name`: the sessions that waited for it and still want it (they may
/// have left or gone elsewhere), with their wish cleared.
pub(crate) fn take_waiting(world: &mut World, name: &str) -> Vec<Entity> {
    let waiting = world
        .resource_mut::<Index>()
        .loading
        .remove(name)
        .unwrap_or_default();
    let mut sessions = Vec::with_capacity(waiting.len());
    for session in waiting {
        let wants = world
            .get::<WantsSpace>(session)
            .is_some_and(|w| &*w.0 == name);
        if wants {
            world.entity_mut(session).remove::<WantsSpace>();
            sessions.push(session);
        }
    }
    sessions
}

/// A space entity, not yet joinable (it enters [`Index::spaces`] with its first slice).
fn spawn_space(
    world: &mut World,
    id: Uuid,
    name: Arc<str>,
    chat: std::collections::VecDeque<crate::ChatLine>,
    access: SpaceAccess,
) -> Entity {
    world
        .spawn((
            Space { id, name },
            SpaceContents::default(),
            crate::SpaceSlots::default(),
            ChatLog(chat),
            Access(access),
            ScreenShares::default(),
            crate::queue::JoinQueue::default(),
        ))
        .id()
}

/// Spawns stored objects into `space`, as saved (nothing to persist).
fn spawn_objects(world: &mut World, space: Entity, objects: Vec<ObjectState>) {
    let entities: Vec<(Uuid, Entity)> = objects
        .into_iter()
        .map(|object| {
            let slot = take_object_slot(world, space);
            let entity = world
                .spawn((
                    ObjectId(object.id),
                    InSpace(space),
                    slot,
                    Model(object.model),
                    object.transform,
                    Props(object.props),
                    Owner(object.owner),
                    Version(object.version),
                    SavedVersion(object.version),
                ))
                .id();
            (object.id, entity)
        })
        .collect();
    let mut contents = world
        .get_mut::<SpaceContents>(space)
        .expect("a loading space's entity has contents until the space is unloaded");
    contents
        .objects
        .extend(entities.iter().map(|&(_, entity)| entity));
    world.resource_mut::<Index>().objects.extend(entities);
}

/// Puts a session into a space, if it may enter and the space has room; into its line if
/// it is full. A refused or queued session stays where it was.
fn enter(world: &mut World, session: Entity, space: Entity) {
    if !admitted(world, session, space) {
        return;
    }
    if crate::queue::has_room(world, session, space) {
        admit(world, session, space);
    } else {
        crate::queue::wait(world, session, space);
    }
}

/// Puts a session into a space (leaving the one it was in, if any). A user is in a space at
/// most once: an older session of the same user there is closed ("replaced").
pub(crate) fn admit(world: &mut World, session: Entity, space: Entity) {
    let Some(user) = world.get::<Session>(session).map(|s| s.user) else {
        return;
    };
    exit_space(world, session);
    let members = world
        .get::<SpaceContents>(space)
        .map(|c| c.members.clone())
        .unwrap_or_default();
    for other in members {
        if other != session && world.get::<Session>(other).is_some_and(|s| s.user == user) {
            exit_space(world, other);
            if let Some(conn) = conn_of(world, other) {
                let reason = "replaced by a newer session of the same user".to_string();
                send(world, conn, Event::Close { reason });
            }
        }
    }
    if let Some(mut contents) = world.get_mut::<SpaceContents>(space) {
        contents.members.push(session);
    }
    let slot = world
        .get_mut::<crate::SpaceSlots>(space)
        .map_or(crate::Slot(0), |mut slots| slots.people.take());
    if let Some(mut info) = world.get_mut::<Session>(session) {
        info.slot = slot;
    }
    world
        .entity_mut(session)
        .remove::<WantsSpace>()
        .insert((InSpace(space), JustJoined));
    world
        .resource_mut::<TickLog>()
        .membership_changed
        .push(space);
    log_event(world, session, EventKind::Join, Some(space), None);
    record_visit(world, session, space);
}

/// Counts a visit of the session's anonymous visitor, if it sent a visitor id.
fn record_visit(world: &mut World, session: Entity, space: Entity) {
    let Some(space_id) = world.get::<Space>(space).map(|s| s.id) else {
        return;
    };
    let Some(visit) = world.get::<Session>(session).and_then(|s| {
        Some(VisitRecord {
            visitor: s.meta.visitor.clone()?,
            space: space_id,
            user: s.user,
            visits: 1,
            at_ms: 0,
            user_agent: s.meta.user_agent.clone(),
        })
    }) else {
        return;
    };
    let at_ms = world.resource::<SimTime>().unix_ms;
    world
        .resource_mut::<TickLog>()
        .rows
        .visits
        .push(VisitRecord { at_ms, ..visit });
}

/// A space's access changed over HTTP: the loaded space follows, and members who may no
/// longer be there are taken out.
pub(crate) fn access_changed(world: &mut World, space_id: Uuid, access: SpaceAccess) {
    let Some(space) = space_by_id(world, space_id) else {
        return;
    };
    let members = world
        .get::<SpaceContents>(space)
        .map(|c| c.members.clone())
        .unwrap_or_default();
    let allowed = |world: &World, session: Entity| {
        world
            .get::<Session>(session)
            .is_some_and(|s| s.admin || access.may_enter(s.user))
    };
    for member in members {
        if !allowed(world, member) {
            leave(world, member);
        }
    }
    for waiting in crate::queue::waiting_for(world, space) {
        if !allowed(world, waiting) {
            crate::queue::stop_waiting(world, waiting);
            let message = "the space became private: ask one of its admins for an invitation";
            send_error(world, waiting, ErrorKind::Forbidden, message.into());
        }
    }
    if let Some(mut current) = world.get_mut::<Access>(space) {
        current.0 = access;
    }
}

/// The entity of the space `id`, if it is in the world (loaded or loading).
pub(crate) fn space_by_id(world: &mut World, id: Uuid) -> Option<Entity> {
    let mut spaces = world.query::<(Entity, &Space)>();
    spaces.iter(world).find(|(_, s)| s.id == id).map(|(e, _)| e)
}

/// Whether the session may enter the space (public, invited, or an admin); refuses it with
/// `forbidden` if not. A refused session stays where it was.
fn admitted(world: &mut World, session: Entity, space: Entity) -> bool {
    let allowed = world.get::<Session>(session).is_some_and(|s| {
        s.admin
            || world
                .get::<Access>(space)
                .is_none_or(|a| a.0.may_enter(s.user))
    });
    if !allowed {
        let name = world.get::<Space>(space).map(|s| s.name.clone());
        let message = format!(
            "space {:?} is private: ask one of its admins for an invitation",
            name.as_deref().unwrap_or_default()
        );
        refuse(world, session, ErrorKind::Forbidden, message);
    }
    allowed
}

/// Takes a session out of its space, if it is in one; the others are told next delta.
fn exit_space(world: &mut World, session: Entity) {
    let Some(InSpace(space)) = world.get::<InSpace>(session).copied() else {
        return;
    };
    crate::sharing::stop(world, session);
    if let Some(slot) = world.get::<Session>(session).map(|s| s.slot)
        && let Some(mut slots) = world.get_mut::<crate::SpaceSlots>(space)
    {
        slots.people.give_back(slot);
    }
    world
        .entity_mut(session)
        .remove::<(InSpace, JustJoined, Backfill)>();
    if let Some(mut contents) = world.get_mut::<SpaceContents>(space)
        && let Some(at) = contents.members.iter().position(|&m| m == session)
    {
        contents.members.remove(at);
    }
    if let Some(user) = world.get::<Session>(session).map(|s| s.user) {
        let mut log = world.resource_mut::<TickLog>();
        log.left.push((space, user));
        log.membership_changed.push(space);
    }
    log_event(world, session, EventKind::Leave, Some(space), None);
}

/// The next free object index of `space` (index 0 if the space is gone, which a loading
/// space never is).
pub(crate) fn take_object_slot(world: &mut World, space: Entity) -> crate::Slot {
    world
        .get_mut::<crate::SpaceSlots>(space)
        .map_or(crate::Slot(0), |mut slots| slots.objects.take())
}
