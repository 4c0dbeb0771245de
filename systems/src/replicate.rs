//! The replicate stage: one delta per space per tick holding what changed, sent to every
//! session in the space, and the full state for sessions that entered this tick.
//!
//! This is replication without a view radius: every session in a space sees the whole
//! space, so a space's delta is the same for all its sessions and is built, and encoded,
//! once. With a view radius, [`crate::interest`] replicates instead.

use std::collections::HashMap;

use bevy_ecs::entity::EntityHashMap;
use bevy_ecs::prelude::*;

use crate::components::{
    Avatar, Backfill, ChatLog, InSpace, JustJoined, Model, ObjectId, Owner, Props, ScreenShares,
    Session, Space, SpaceContents, Transform, Version,
};
use crate::{
    ConnId, Delta, Event, Limits, ObjectState, Outbox, Outgoing, Recipients, SimTime, Snapshot,
    TickLog, UserState,
};

/// The components that make an object's replicated state.
pub type ObjectData = (
    &'static ObjectId,
    &'static Model,
    &'static Transform,
    &'static Props,
    &'static Owner,
    &'static Version,
);

/// Builds an object's replicated state from its components.
pub fn object_state(
    (id, model, transform, props, owner, version): (
        &ObjectId,
        &Model,
        &Transform,
        &Props,
        &Owner,
        &Version,
    ),
) -> ObjectState {
    ObjectState {
        id: id.0,
        model: model.0.clone(),
        transform: *transform,
        props: props.0.clone(),
        owner: owner.0,
        version: version.0,
    }
}

pub(crate) fn user_state(session: &Session, avatar: &Avatar) -> UserState {
    UserState {
        user: session.user,
        name: session.name.clone(),
        transform: avatar.0,
    }
}

/// Whether a changed object's only change is its transform (not new, not props or
/// model): a move, which clients with datagrams get as motion.
pub(crate) fn is_move_only(
    transform: &Ref<Transform>,
    props: &Ref<Props>,
    model: &Ref<Model>,
    version: &Ref<Version>,
) -> bool {
    transform.is_changed() && !props.is_changed() && !model.is_changed() && !version.is_added()
}

/// What replication remembers from one tick to the next.
#[derive(Debug, Default)]
pub struct ReplicateState {
    deltas: HashMap<Entity, Delta>,
    /// Sessions whose avatar moved lately, with the tick it last moved.
    moving_avatars: EntityHashMap<u64>,
    /// Objects whose latest change was a move, with its tick.
    moving_objects: EntityHashMap<u64>,
}

/// Sends each space's delta for this tick and each newcomer's snapshot.
#[allow(clippy::too_many_arguments)]
pub fn replicate(
    time: Res<SimTime>,
    limits: Res<Limits>,
    log: Res<TickLog>,
    mut outbox: ResMut<Outbox>,
    changed_objects: Query<(Entity, ObjectData, &InSpace), Changed<Version>>,
    change_kind: Query<(Ref<Transform>, Ref<Props>, Ref<Model>, Ref<Version>)>,
    moved_avatars: Query<
        (Entity, &Session, &Avatar, &InSpace),
        (Changed<Avatar>, Without<JustJoined>),
    >,
    present: Query<(&Session, &Avatar, &InSpace)>,
    arrivals: Query<(Entity, &Session, &Avatar, &InSpace), With<JustJoined>>,
    sessions: Query<(&Session, &Avatar, Has<JustJoined>)>,
    spaces: Query<(&Space, &SpaceContents, &ChatLog, &ScreenShares)>,
    objects: Query<(ObjectData, &InSpace)>,
    mut backfills: Query<(Entity, &Session, &mut Backfill)>,
    mut state: Local<ReplicateState>,
    mut commands: Commands,
) {
    // Sessions still owed the objects their snapshot left out: a slice this tick, in all.
    let mut budget = limits.load_slice_objects.max(1);
    for (entity, session, mut backfill) in &mut backfills {
        if budget == 0 {
            break;
        }
        let take = budget.min(backfill.0.len());
        budget -= take;
        let at = backfill.0.len() - take;
        let objects: Vec<ObjectState> = backfill
            .0
            .drain(at..)
            .filter_map(|e| objects.get(e).ok())
            .map(|(data, _)| object_state(data))
            .collect();
        if backfill.0.is_empty() {
            commands.entity(entity).remove::<Backfill>();
        }
        if !objects.is_empty() {
            outbox.0.push(Outgoing {
                to: Recipients::One(session.conn),
                event: Event::Delta(Box::new(Delta {
                    tick: time.tick,
                    objects,
                    ..Delta::default()
                })),
            });
        }
    }
    let state = &mut *state;
    let deltas = &mut state.deltas;
    // A space nobody is in has no one to tell: its changes cost only this check.
    let occupied = |space: Entity| {
        spaces
            .get(space)
            .is_ok_and(|(_, c, ..)| !c.members.is_empty())
    };
    let now = time.tick;
    for (entity, data, in_space) in &changed_objects {
        if !occupied(in_space.0) {
            continue;
        }
        let moved_only = change_kind
            .get(entity)
            .is_ok_and(|(t, p, m, v)| is_move_only(&t, &p, &m, &v));
        let delta = delta_for(deltas, in_space.0);
        if moved_only {
            delta.moved.push(object_state(data));
            state.moving_objects.insert(entity, now);
        } else {
            // Its full state goes reliably: nothing to settle.
            delta.objects.push(object_state(data));
            state.moving_objects.remove(&entity);
        }
    }
    // Objects that stopped moving: their final state goes reliably to datagram clients.
    state.moving_objects.retain(|&entity, &mut last| {
        if now - last.min(now) < limits.settle_ticks {
            return true;
        }
        if let Ok((data, in_space)) = objects.get(entity)
            && occupied(in_space.0)
        {
            delta_for(deltas, in_space.0)
                .settled_objects
                .push(object_state(data));
        }
        false
    });
    for &(space, id) in &log.removed {
        delta_for(deltas, space).removed.push(id);
    }
    for (entity, session, avatar, in_space) in &moved_avatars {
        delta_for(deltas, in_space.0)
            .avatars
            .push((session.user, avatar.0));
        state.moving_avatars.insert(entity, now);
    }
    // Avatars that stopped: their final pose goes reliably to datagram clients.
    state.moving_avatars.retain(|&entity, &mut last| {
        if now - last.min(now) < limits.settle_ticks {
            return true;
        }
        if let Ok((session, avatar, in_space)) = present.get(entity) {
            delta_for(deltas, in_space.0)
                .settled
                .push((session.user, avatar.0));
        }
        false
    });
    let mut arriving_spaces = Vec::new();
    for (entity, session, avatar, in_space) in &arrivals {
        delta_for(deltas, in_space.0)
            .joined
            .push(user_state(session, avatar));
        if !arriving_spaces.contains(&in_space.0) {
            arriving_spaces.push(in_space.0);
        }
        commands.entity(entity).remove::<JustJoined>();
    }
    for &(space, user) in &log.left {
        delta_for(deltas, space).left.push(user);
    }

    for (space, mut delta) in deltas.drain() {
        let Ok((_, contents, ..)) = spaces.get(space) else {
            continue;
        };
        let to = present_members(&contents.members, &sessions, false);
        if to.is_empty() || delta.is_empty() {
            continue;
        }
        delta.tick = time.tick;
        outbox.0.push(Outgoing {
            to: Recipients::Many(to),
            event: Event::Delta(Box::new(delta)),
        });
    }

    // Everyone who entered a space this tick gets the same snapshot of it, built once. A
    // big space's snapshot holds its first objects; the rest follow, a slice per tick.
    for space in arriving_spaces {
        let Ok((info, contents, chat, shares)) = spaces.get(space) else {
            continue;
        };
        let mut all = contents.objects.iter().copied();
        let snapshot = Snapshot {
            space: info.id,
            name: info.name.clone(),
            tick: time.tick,
            objects: all
                .by_ref()
                .take(limits.load_slice_objects.max(1))
                .filter_map(|e| objects.get(e).ok())
                .map(|(data, _)| object_state(data))
                .collect(),
            users: contents
                .members
                .iter()
                .filter_map(|&m| sessions.get(m).ok())
                .map(|(session, avatar, _)| user_state(session, avatar))
                .collect(),
            chat: chat.0.iter().cloned().collect(),
            shares: shares.0.clone(),
        };
        let to = present_members(&contents.members, &sessions, true);
        let rest: Vec<Entity> = all.collect();
        if !rest.is_empty() {
            for (entity, ..) in arrivals.iter().filter(|(.., s)| s.0 == space) {
                commands.entity(entity).insert(Backfill(rest.clone()));
            }
        }
        outbox.0.push(Outgoing {
            to: Recipients::Many(to),
            event: Event::Joined(Box::new(snapshot)),
        });
    }
}

fn delta_for(deltas: &mut HashMap<Entity, Delta>, space: Entity) -> &mut Delta {
    deltas.entry(space).or_default()
}

/// Connections of the members that did (`arrived = true`) or did not join this tick.
fn present_members(
    members: &[Entity],
    sessions: &Query<(&Session, &Avatar, Has<JustJoined>)>,
    arrived: bool,
) -> Vec<ConnId> {
    members
        .iter()
        .filter_map(|&m| sessions.get(m).ok())
        .filter(|&(_, _, just_joined)| just_joined == arrived)
        .map(|(session, _, _)| session.conn)
        .collect()
}
