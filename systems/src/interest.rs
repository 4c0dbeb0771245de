//! Replication with interest management: each session gets its own delta holding only what
//! is within the view radius of its avatar, at most a byte budget per tick.
//!
//! Per session, a [`View`] remembers what the client was shown and what it still owes it.
//! Each tick, the grid gives what is in range now; what came into range is owed in full
//! (`objects`, `appeared`, or `joined` for someone who just entered), what left range is
//! announced at once (`hidden`, `vanished`, or `removed`/`left` when it is gone from the
//! space), and what changed in range is owed. The owed entries go nearest first, with a
//! bonus for what changed this tick and a growing bonus for what has waited, until the
//! budget is spent; the rest stays owed. An owed entry always sends the state of the moment
//! it goes out, so a deferred change is late but never lost.

use bevy_ecs::entity::{EntityHashMap, EntityHashSet};
use bevy_ecs::prelude::*;
use uuid::Uuid;

use crate::components::{
    Avatar, ChatLog, InSpace, JustJoined, Model, Props, Session, Space, Transform, Version,
};
use crate::grid::Grid;
use crate::replicate::{ObjectData, object_state, user_state};
use crate::{Delta, Event, Limits, Outbox, Outgoing, Recipients, SimTime, Snapshot};

/// What an owed entry must send; a later, stronger need replaces a weaker one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    /// Its final state after movement the client got unreliably.
    Settle,
    /// Its new transform (a motion entry for clients with datagrams).
    Motion,
    /// Its full state (props or model changed).
    Full,
    /// Everything about it: it came into range.
    Appear,
}

#[derive(Debug, Clone, Copy)]
struct Owed {
    /// Tick it became owed; waiting raises its priority.
    since: u64,
    need: Need,
}

/// What an entity in view is to the client, for announcing that it left the view.
#[derive(Debug, Clone, Copy)]
enum Shown {
    Object(Uuid),
    User(Uuid),
}

/// An entity in view.
#[derive(Debug, Clone, Copy)]
struct InView {
    what: Shown,
    /// The last tick it was found in range; one that was not found this tick left.
    tick: u64,
    /// Its squared distance then.
    distance_sq: f32,
}

/// A session's view of its space: what its client was shown and what it is owed.
#[derive(Component, Debug, Default)]
pub struct View {
    shown: EntityHashMap<InView>,
    owed: EntityHashMap<Owed>,
    /// Sent by motion (possibly lost) and not yet settled.
    unsettled: EntityHashSet,
}

/// Gives memory back once a view is far smaller than it was (everyone left the spawn
/// point): a table sized for a crowd makes every lookup and sweep of a few entries slow.
fn shrink<T>(map: &mut EntityHashMap<T>) {
    let len = map.len();
    if map.capacity() > 4 * len + 64 {
        map.shrink_to(2 * len);
    }
}

/// How much waiting one tick is worth, in view radii of distance.
const WAIT_BONUS_PER_TICK: f32 = 0.1;
/// How much having changed this tick is worth, in view radii of distance.
const FRESH_BONUS: f32 = 0.25;

/// Estimated encoded sizes (postcard) for the budget: an id is 17 bytes, a transform 40.
const ID_BYTES: usize = 17;
const POSE_BYTES: usize = ID_BYTES + 40;
const OBJECT_BYTES: usize = 2 * ID_BYTES + 40 + 12;

/// Whether replication runs with interest management (a view radius is configured).
pub fn in_view(limits: Res<Limits>) -> bool {
    limits.view_radius.is_some()
}

/// Builds and sends each session's own delta, and each newcomer's snapshot of what is in
/// range.
#[allow(clippy::too_many_arguments)]
pub fn replicate_in_view(
    time: Res<SimTime>,
    limits: Res<Limits>,
    grid: Res<Grid>,
    mut outbox: ResMut<Outbox>,
    changed_objects: Query<
        (Entity, Ref<Transform>, Ref<Props>, Ref<Model>, Ref<Version>),
        Changed<Version>,
    >,
    moved_avatars: Query<Entity, (Changed<Avatar>, With<Session>, Without<JustJoined>)>,
    mut viewers: Query<(Entity, &Session, &Avatar, &InSpace, &mut View), Without<JustJoined>>,
    arrivals: Query<(Entity, &Session, &Avatar, &InSpace), With<JustJoined>>,
    people: Query<(&Session, &Avatar, &InSpace, Has<JustJoined>)>,
    objects: Query<(ObjectData, &InSpace)>,
    spaces: Query<(&Space, &ChatLog)>,
    mut scratch: Local<Vec<(Entity, f32)>>,
    mut commands: Commands,
) {
    let Some(radius) = limits.view_radius else {
        return;
    };
    let tick = time.tick;
    // What changed this tick, and how: shared by every viewer.
    let mut changed: EntityHashMap<Need> = EntityHashMap::default();
    for (entity, transform, props, model, version) in &changed_objects {
        let moved_only = transform.is_changed()
            && !model.is_changed()
            && !props.is_changed()
            && !version.is_added();
        changed.insert(entity, if moved_only { Need::Motion } else { Need::Full });
    }
    for entity in &moved_avatars {
        changed.insert(entity, Need::Motion);
    }

    for (viewer, session, avatar, in_space, mut view) in &mut viewers {
        let space = in_space.0;
        scratch.clear();
        grid.within(space, avatar.0.translation, radius, &mut scratch);
        let View {
            shown,
            owed,
            unsettled,
        } = &mut *view;
        let mut delta = Delta::default();
        for &(entity, distance_sq) in scratch.iter() {
            if entity == viewer {
                continue;
            }
            if let Some(in_view) = shown.get_mut(&entity) {
                in_view.tick = tick;
                in_view.distance_sq = distance_sq;
                if let Some(&need) = changed.get(&entity) {
                    match owed.get_mut(&entity) {
                        Some(o) => o.need = o.need.max(need),
                        None => {
                            owed.insert(entity, Owed { since: tick, need });
                        }
                    }
                }
                continue;
            }
            let what = match (objects.get(entity), people.get(entity)) {
                (Ok(((id, ..), _)), _) => Shown::Object(id.0),
                (_, Ok((person, ..))) => Shown::User(person.user),
                _ => continue,
            };
            shown.insert(
                entity,
                InView {
                    what,
                    tick,
                    distance_sq,
                },
            );
            owed.insert(
                entity,
                Owed {
                    since: tick,
                    need: Need::Appear,
                },
            );
        }
        // What left the view: out of range, or gone from the space.
        shown.retain(|entity, in_view| {
            if in_view.tick == tick {
                return true;
            }
            owed.remove(entity);
            unsettled.remove(entity);
            match in_view.what {
                Shown::Object(id) => match objects.get(*entity) {
                    Ok((_, s)) if s.0 == space => delta.hidden.push(id),
                    _ => delta.removed.push(id),
                },
                Shown::User(user) => match people.get(*entity) {
                    Ok((_, _, s, _)) if s.0 == space => delta.vanished.push(user),
                    _ => delta.left.push(user),
                },
            }
            false
        });
        shrink(shown);
        shrink(owed);
        // What the client got by motion and did not move again is owed its final state.
        for entity in std::mem::take(unsettled) {
            if shown.contains_key(&entity) {
                owed.entry(entity).or_insert(Owed {
                    since: tick,
                    need: Need::Settle,
                });
            }
        }

        let mut order: Vec<(f32, Entity)> = owed
            .iter()
            .map(|(&entity, o)| {
                let distance = shown.get(&entity).map_or(radius, |v| v.distance_sq.sqrt()) / radius;
                let waited = (tick - o.since.min(tick)) as f32 * WAIT_BONUS_PER_TICK;
                let fresh = if changed.contains_key(&entity) {
                    FRESH_BONUS
                } else {
                    0.0
                };
                (distance - waited - fresh, entity)
            })
            .collect();
        order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut spent = (delta.hidden.len() + delta.vanished.len()) * ID_BYTES
            + (delta.removed.len() + delta.left.len()) * ID_BYTES;
        for (_, entity) in order {
            let Some(&Owed { need, .. }) = owed.get(&entity) else {
                continue;
            };
            let cost = if let Ok((data, _)) = objects.get(entity) {
                let (_, model, _, props, ..) = data;
                let cost = match need {
                    Need::Motion => POSE_BYTES + 8,
                    _ => OBJECT_BYTES + model.0.len() + props.0.len(),
                };
                if spent > 0 && spent + cost > limits.view_budget_bytes {
                    break;
                }
                let state = object_state(data);
                match need {
                    Need::Appear | Need::Full => delta.objects.push(state),
                    Need::Motion => {
                        delta.moved.push(state);
                        unsettled.insert(entity);
                    }
                    Need::Settle => delta.settled_objects.push(state),
                }
                cost
            } else if let Ok((person, pose, _, just_joined)) = people.get(entity) {
                let cost = match need {
                    Need::Appear | Need::Full => POSE_BYTES + person.name.len() + 1,
                    _ => POSE_BYTES,
                };
                if spent > 0 && spent + cost > limits.view_budget_bytes {
                    break;
                }
                match need {
                    Need::Appear | Need::Full if just_joined => {
                        delta.joined.push(user_state(person, pose))
                    }
                    Need::Appear | Need::Full => delta.appeared.push(user_state(person, pose)),
                    Need::Motion => {
                        delta.avatars.push((person.user, pose.0));
                        unsettled.insert(entity);
                    }
                    Need::Settle => delta.settled.push((person.user, pose.0)),
                }
                cost
            } else {
                0
            };
            spent += cost;
            owed.remove(&entity);
        }
        if !delta.is_empty() {
            delta.tick = tick;
            outbox.0.push(Outgoing {
                to: Recipients::One(session.conn),
                event: Event::Delta(Box::new(delta)),
            });
        }
    }

    // Newcomers get what is in range now, and start a view holding just that.
    for (entity, session, avatar, in_space) in &arrivals {
        let Ok((info, chat)) = spaces.get(in_space.0) else {
            continue;
        };
        scratch.clear();
        grid.within(in_space.0, avatar.0.translation, radius, &mut scratch);
        let mut view = View::default();
        let mut snapshot = Snapshot {
            space: info.id,
            name: info.name.clone(),
            tick,
            objects: Vec::new(),
            users: vec![user_state(session, avatar)],
            chat: chat.0.iter().cloned().collect(),
        };
        for &(other, distance_sq) in scratch.iter() {
            if other == entity {
                continue;
            }
            let what = if let Ok((data, _)) = objects.get(other) {
                snapshot.objects.push(object_state(data));
                Shown::Object(data.0.0)
            } else if let Ok((person, pose, ..)) = people.get(other) {
                snapshot.users.push(user_state(person, pose));
                Shown::User(person.user)
            } else {
                continue;
            };
            let in_view = InView {
                what,
                tick,
                distance_sq,
            };
            view.shown.insert(other, in_view);
        }
        outbox.0.push(Outgoing {
            to: Recipients::One(session.conn),
            event: Event::Joined(Box::new(snapshot)),
        });
        commands.entity(entity).insert(view).remove::<JustJoined>();
    }
}
