//! The replicate stage: one delta per space per tick holding what changed, sent to every
//! session in the space, and the full state for sessions that entered this tick.
//!
//! This is replication without a view radius: every session in a space sees the whole
//! space, so a space's delta is the same for all its sessions and is built, and encoded,
//! once. With a view radius, [`crate::interest`] replicates instead.

use std::collections::HashMap;
use std::sync::Arc;

use bevy_ecs::entity::EntityHashMap;
use bevy_ecs::prelude::*;

use crate::components::{
    Avatar, Backfill, ChatLog, InSpace, JustJoined, Model, ObjectId, Owner, Props, ScreenShares,
    Session, Space, SpaceContents, Transform, Version,
};
use crate::resume::Resumed;
use crate::slots::Slot;
use crate::{
    AvatarPose, ConnId, Delta, Event, Limits, ObjectState, Outbox, Outgoing, Recipients, SimTime,
    Snapshot, TickLog, UserState,
};

/// The components that make an object's replicated state.
pub type ObjectData = (
    &'static ObjectId,
    &'static Model,
    &'static Transform,
    &'static Props,
    &'static Owner,
    &'static Version,
    Option<&'static Slot>,
);

/// Builds an object's replicated state from its components.
pub fn object_state(
    (id, model, transform, props, owner, version, slot): (
        &ObjectId,
        &Model,
        &Transform,
        &Props,
        &Owner,
        &Version,
        Option<&Slot>,
    ),
) -> ObjectState {
    ObjectState {
        id: id.0,
        index: slot.map_or(0, |s| s.0),
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
        index: session.slot.0,
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

/// The queries replication reads, besides what changed this tick.
type Sessions<'w, 's> = Query<
    'w,
    's,
    (
        &'static Session,
        &'static Avatar,
        Has<JustJoined>,
        Has<Resumed>,
    ),
>;
type Spaces<'w, 's> = Query<
    'w,
    's,
    (
        &'static Space,
        &'static SpaceContents,
        &'static ChatLog,
        &'static ScreenShares,
    ),
>;
type Objects<'w, 's> = Query<'w, 's, (ObjectData, &'static InSpace)>;
type Arrivals<'w, 's> =
    Query<'w, 's, (Entity, &'static Session, &'static Avatar, &'static InSpace), With<JustJoined>>;

/// Sends each space's delta for this tick and each newcomer's snapshot, in phases: the
/// objects owed to sessions that entered a big space, then what changed in each occupied
/// space gathered into its delta (objects, settled objects, removals, avatars, settled
/// avatars, arrivals, departures), then the deltas, then the newcomers' snapshots.
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
    arrivals: Arrivals,
    sessions: Sessions,
    spaces: Spaces,
    objects: Objects,
    mut backfills: Query<(Entity, &Session, &mut Backfill)>,
    resumed: Query<(Entity, &InSpace), With<Resumed>>,
    mut state: Local<ReplicateState>,
    mut commands: Commands,
) {
    let tick = time.tick;
    send_backfills(
        tick,
        limits.load_slice_objects,
        &mut backfills,
        &objects,
        &mut outbox,
        &mut commands,
    );
    let state = &mut *state;
    let deltas = &mut state.deltas;
    // A space nobody is in has no one to tell: its changes cost only this check.
    let occupied = |space: Entity| {
        spaces
            .get(space)
            .is_ok_and(|(_, c, ..)| !c.members.is_empty())
    };
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
            state.moving_objects.insert(entity, tick);
        } else {
            // Its full state goes reliably: nothing to settle.
            delta.objects.push(object_state(data));
            state.moving_objects.remove(&entity);
        }
    }
    // Objects that stopped moving: their final state goes reliably to datagram clients.
    settle(
        &mut state.moving_objects,
        tick,
        limits.settle_ticks,
        |entity| {
            if let Ok((data, in_space)) = objects.get(entity)
                && occupied(in_space.0)
            {
                delta_for(deltas, in_space.0)
                    .settled_objects
                    .push(object_state(data));
            }
        },
    );
    for &(space, id) in &log.removed {
        delta_for(deltas, space).removed.push(id);
    }
    for (entity, session, avatar, in_space) in &moved_avatars {
        delta_for(deltas, in_space.0)
            .avatars
            .push(AvatarPose::of(session, avatar));
        state.moving_avatars.insert(entity, tick);
    }
    // Avatars that stopped: their final pose goes reliably to datagram clients.
    settle(
        &mut state.moving_avatars,
        tick,
        limits.settle_ticks,
        |entity| {
            if let Ok((session, avatar, in_space)) = present.get(entity) {
                delta_for(deltas, in_space.0)
                    .settled
                    .push(AvatarPose::of(session, avatar));
            }
        },
    );
    let arriving_spaces = gather_arrivals(deltas, &arrivals, &mut commands);
    for &(space, user) in &log.left {
        delta_for(deltas, space).left.push(user);
    }
    send_deltas(tick, deltas, &spaces, &sessions, &mut outbox);
    for space in arriving_spaces {
        send_snapshot(
            tick,
            space,
            limits.load_slice_objects,
            (&spaces, &sessions, &objects, &arrivals),
            &mut outbox,
            &mut commands,
        );
    }
    for (entity, in_space) in &resumed {
        resend_snapshot(
            tick,
            (entity, in_space.0),
            limits.load_slice_objects,
            (&spaces, &sessions, &objects),
            &mut outbox,
            &mut commands,
        );
    }
}

/// A session taken back on a new connection gets its space's state anew, alone.
fn resend_snapshot(
    tick: u64,
    (entity, space): (Entity, Entity),
    slice: usize,
    (spaces, sessions, objects): (&Spaces, &Sessions, &Objects),
    outbox: &mut Outbox,
    commands: &mut Commands,
) {
    commands.entity(entity).remove::<Resumed>();
    let (Ok(space_data), Ok((session, ..))) = (spaces.get(space), sessions.get(entity)) else {
        return;
    };
    let (snapshot, rest) = snapshot_of(tick, space_data, slice, (sessions, objects));
    commands.entity(entity).remove::<Backfill>();
    if !rest.is_empty() {
        commands.entity(entity).insert(Backfill::new(rest.into()));
    }
    outbox.0.push(Outgoing {
        to: Recipients::One(session.conn),
        event: Event::Joined(Box::new(snapshot)),
    });
}

/// The state of `space` as a newcomer first gets it (its first `slice` objects), and the
/// objects left for later slices.
fn snapshot_of(
    tick: u64,
    (info, contents, chat, shares): (&Space, &SpaceContents, &ChatLog, &ScreenShares),
    slice: usize,
    (sessions, objects): (&Sessions, &Objects),
) -> (Snapshot, Vec<Entity>) {
    let mut all = contents.objects.iter().copied();
    let snapshot = Snapshot {
        space: info.id,
        name: info.name.clone(),
        tick,
        objects: all
            .by_ref()
            .take(slice.max(1))
            .filter_map(|e| objects.get(e).ok())
            .map(|(data, _)| object_state(data))
            .collect(),
        users: contents
            .members
            .iter()
            .filter_map(|&m| sessions.get(m).ok())
            .map(|(session, avatar, ..)| user_state(session, avatar))
            .collect(),
        chat: chat.0.iter().cloned().collect(),
        shares: shares.0.clone(),
    };
    (snapshot, all.collect())
}

/// Sessions still owed the objects their snapshot left out: a slice this tick, in all.
/// Those who entered together (the same `rest`, as far through it) are one cohort: one
/// slice built once and sent to all of them, counted once against the budget. Cohorts are
/// served in the order of their first session.
fn send_backfills(
    tick: u64,
    slice: usize,
    backfills: &mut Query<(Entity, &Session, &mut Backfill)>,
    objects: &Objects,
    outbox: &mut Outbox,
    commands: &mut Commands,
) {
    struct Cohort {
        rest: Arc<[Entity]>,
        sent: usize,
        members: Vec<(Entity, ConnId)>,
    }
    let mut cohorts: Vec<Cohort> = Vec::new();
    let mut index: HashMap<(*const Entity, usize), usize> = HashMap::new();
    for (entity, session, backfill) in backfills.iter() {
        let key = (backfill.rest.as_ptr(), backfill.sent);
        let at = *index.entry(key).or_insert_with(|| {
            cohorts.push(Cohort {
                rest: backfill.rest.clone(),
                sent: backfill.sent,
                members: Vec::new(),
            });
            cohorts.len() - 1
        });
        cohorts[at].members.push((entity, session.conn));
    }
    let mut budget = slice.max(1);
    for cohort in cohorts {
        if budget == 0 {
            break;
        }
        let take = budget.min(cohort.rest.len() - cohort.sent);
        budget -= take;
        let end = cohort.sent + take;
        let objects: Vec<ObjectState> = cohort.rest[cohort.sent..end]
            .iter()
            .filter_map(|&e| objects.get(e).ok())
            .map(|(data, _)| object_state(data))
            .collect();
        for &(entity, _) in &cohort.members {
            if end == cohort.rest.len() {
                commands.entity(entity).remove::<Backfill>();
            } else if let Ok((.., mut backfill)) = backfills.get_mut(entity) {
                backfill.sent = end;
            }
        }
        if !objects.is_empty() {
            outbox.0.push(Outgoing {
                to: Recipients::Many(cohort.members.iter().map(|&(_, conn)| conn).collect()),
                event: Event::Delta(Box::new(Delta {
                    tick,
                    objects,
                    ..Delta::default()
                })),
            });
        }
    }
}

/// Takes out of `moving` what has not moved for `settle_ticks`, handing each to `settled`.
fn settle(
    moving: &mut EntityHashMap<u64>,
    now: u64,
    settle_ticks: u64,
    mut settled: impl FnMut(Entity),
) {
    moving.retain(|&entity, &mut last| {
        if now - last.min(now) < settle_ticks {
            return true;
        }
        settled(entity);
        false
    });
}

/// Announces this tick's arrivals in their spaces' deltas; returns those spaces, whose
/// snapshot the arrivals get.
fn gather_arrivals(
    deltas: &mut HashMap<Entity, Delta>,
    arrivals: &Arrivals,
    commands: &mut Commands,
) -> Vec<Entity> {
    let mut arriving_spaces = Vec::new();
    for (entity, session, avatar, in_space) in arrivals {
        delta_for(deltas, in_space.0)
            .joined
            .push(user_state(session, avatar));
        if !arriving_spaces.contains(&in_space.0) {
            arriving_spaces.push(in_space.0);
        }
        commands.entity(entity).remove::<JustJoined>();
    }
    arriving_spaces
}

/// Sends each space's delta to its members who were there before this tick (to no one if
/// all of them arrived this tick).
fn send_deltas(
    tick: u64,
    deltas: &mut HashMap<Entity, Delta>,
    spaces: &Spaces,
    sessions: &Sessions,
    outbox: &mut Outbox,
) {
    for (space, mut delta) in deltas.drain() {
        let Ok((info, contents, ..)) = spaces.get(space) else {
            continue;
        };
        // A delta nobody present gets still goes out: the edge keeps, per space, what
        // everyone was told of each avatar, and it must see every change.
        let to = present_members(&contents.members, sessions, false);
        if delta.is_empty() {
            continue;
        }
        delta.tick = tick;
        delta.space = info.id;
        delta.whole_space = true;
        outbox.0.push(Outgoing {
            to: Recipients::Many(to),
            event: Event::Delta(Box::new(delta)),
        });
    }
}

/// Everyone who entered `space` this tick gets the same snapshot of it, built once. A big
/// space's snapshot holds its first objects; the rest follow, a slice per tick.
fn send_snapshot(
    tick: u64,
    space: Entity,
    slice: usize,
    (spaces, sessions, objects, arrivals): (&Spaces, &Sessions, &Objects, &Arrivals),
    outbox: &mut Outbox,
    commands: &mut Commands,
) {
    let Ok(space_data) = spaces.get(space) else {
        return;
    };
    let (snapshot, rest) = snapshot_of(tick, space_data, slice, (sessions, objects));
    let to = present_members(&space_data.1.members, sessions, true);
    if !rest.is_empty() {
        let rest: Arc<[Entity]> = rest.into();
        for (entity, ..) in arrivals.iter().filter(|(.., s)| s.0 == space) {
            commands.entity(entity).insert(Backfill::new(rest.clone()));
        }
    }
    outbox.0.push(Outgoing {
        to: Recipients::Many(to),
        event: Event::Joined(Box::new(snapshot)),
    });
}

fn delta_for(deltas: &mut HashMap<Entity, Delta>, space: Entity) -> &mut Delta {
    deltas.entry(space).or_default()
}

/// Connections of the members that did (`arrived = true`) or did not join this tick. A
/// session taken back this tick is neither: it gets a snapshot of its own.
fn present_members(members: &[Entity], sessions: &Sessions, arrived: bool) -> Vec<ConnId> {
    members
        .iter()
        .filter_map(|&m| sessions.get(m).ok())
        .filter(|&(_, _, just_joined, resumed)| !resumed && just_joined == arrived)
        .map(|(session, ..)| session.conn)
        .collect()
}
