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

use bevy_ecs::entity::EntityHashMap;
use bevy_ecs::prelude::*;
use uuid::Uuid;

use crate::components::{
    Avatar, ChatLog, InSpace, JustJoined, Model, Props, ScreenShares, Session, Space, Transform,
    Version,
};
use crate::grid::Grid;
use crate::replicate::{ObjectData, is_move_only, object_state, user_state};
use crate::resume::Resumed;
use crate::{AvatarPose, Delta, Event, Limits, Outbox, Outgoing, Recipients, SimTime, Snapshot};

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

/// What an entity in view is to the client, for announcing that it left the view.
#[derive(Debug, Clone, Copy)]
enum Shown {
    Object(Uuid),
    User(Uuid),
}

/// Ticks kept in views as `u32`: a view compares ticks a few apart, and wrapping
/// arithmetic keeps that right across the wrap (every 6.8 years at 20 Hz). Small entries
/// matter: every tick sweeps every entry of every view.
type ShortTick = u32;

fn short(tick: u64) -> ShortTick {
    tick as ShortTick
}

/// An entity in view.
#[derive(Debug, Clone, Copy)]
struct InView {
    what: Shown,
    /// The last tick it was found in range; one that was not found this tick left.
    tick: ShortTick,
    /// Its squared distance then.
    distance_sq: f32,
    /// Since when the client is owed something about it (meaningful with `need`).
    owed_since: ShortTick,
    /// What the client is owed about it, if anything.
    need: Option<Need>,
    /// The tick of the last motion sent about it, until it is settled.
    unsettled: Option<ShortTick>,
}

impl InView {
    fn new(what: Shown, tick: u64, distance_sq: f32) -> Self {
        Self {
            what,
            tick: short(tick),
            distance_sq,
            owed_since: 0,
            need: None,
            unsettled: None,
        }
    }

    fn owe(&mut self, need: Need, tick: u64) {
        match &mut self.need {
            Some(n) => *n = (*n).max(need),
            None => {
                self.need = Some(need);
                self.owed_since = short(tick);
            }
        }
    }

    /// Ticks between `earlier` and `now`.
    fn ticks_since(earlier: ShortTick, now: u64) -> u32 {
        short(now).wrapping_sub(earlier)
    }
}

/// A session's view of its space: what its client was shown, and what it is owed.
#[derive(Component, Debug, Default)]
pub struct View {
    shown: EntityHashMap<InView>,
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

type Objects<'w, 's> = Query<'w, 's, (ObjectData, &'static InSpace)>;
type People<'w, 's> = Query<
    'w,
    's,
    (
        &'static Session,
        &'static Avatar,
        &'static InSpace,
        Has<JustJoined>,
    ),
>;

/// Builds and sends each session's own delta, and each newcomer's snapshot of what is in
/// range. Per viewer, in phases: what is in range now refreshes its view, one sweep of the
/// view announces what left and lines up what is owed, and the budget is spent on the owed
/// entries in that order.
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
    mut viewers: Query<
        (Entity, &Session, &Avatar, &InSpace, &mut View),
        (Without<JustJoined>, Without<Resumed>),
    >,
    arrivals: Query<(Entity, &Session, &Avatar, &InSpace), Or<(With<JustJoined>, With<Resumed>)>>,
    people: People,
    objects: Objects,
    spaces: Query<(&Space, &ChatLog, &ScreenShares)>,
    mut scratch: Local<Vec<(Entity, f32)>>,
    mut order: Local<Vec<(f32, Entity)>>,
    mut commands: Commands,
) {
    let Some(radius) = limits.view_radius else {
        return;
    };
    let tick = time.tick;
    let changed = changes_this_tick(&changed_objects, &moved_avatars);
    for (viewer, session, avatar, in_space, mut view) in &mut viewers {
        let space = in_space.0;
        scratch.clear();
        grid.within(space, avatar.0.translation, radius, &mut scratch);
        let shown = &mut view.shown;
        refresh_in_range(shown, viewer, &scratch, &changed, tick, (&objects, &people));
        let mut delta = Delta::default();
        order.clear();
        let sweep = Sweep {
            tick,
            space,
            radius,
            settle_ticks: limits.settle_ticks,
        };
        sweep.run(shown, &changed, (&objects, &people), &mut delta, &mut order);
        shrink(shown);
        order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        spend_budget(
            shown,
            &order,
            tick,
            limits.view_budget_bytes,
            (&objects, &people),
            &mut delta,
        );
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
        let Ok((info, chat, shares)) = spaces.get(in_space.0) else {
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
            shares: shares.0.clone(),
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
            view.shown
                .insert(other, InView::new(what, tick, distance_sq));
        }
        outbox.0.push(Outgoing {
            to: Recipients::One(session.conn),
            event: Event::Joined(Box::new(snapshot)),
        });
        commands
            .entity(entity)
            .insert(view)
            .remove::<(JustJoined, Resumed)>();
    }
}

/// What changed this tick, and how: shared by every viewer.
fn changes_this_tick(
    changed_objects: &Query<
        (Entity, Ref<Transform>, Ref<Props>, Ref<Model>, Ref<Version>),
        Changed<Version>,
    >,
    moved_avatars: &Query<Entity, (Changed<Avatar>, With<Session>, Without<JustJoined>)>,
) -> EntityHashMap<Need> {
    let mut changed: EntityHashMap<Need> = EntityHashMap::default();
    for (entity, transform, props, model, version) in changed_objects {
        let need = if is_move_only(&transform, &props, &model, &version) {
            Need::Motion
        } else {
            Need::Full
        };
        changed.insert(entity, need);
    }
    for entity in moved_avatars {
        changed.insert(entity, Need::Motion);
    }
    changed
}

/// Marks what is in range now (`in_range`, from the grid) as seen this tick: what was shown
/// already is owed what changed about it, what is new to the view is owed in full.
fn refresh_in_range(
    shown: &mut EntityHashMap<InView>,
    viewer: Entity,
    in_range: &[(Entity, f32)],
    changed: &EntityHashMap<Need>,
    tick: u64,
    (objects, people): (&Objects, &People),
) {
    for &(entity, distance_sq) in in_range {
        if entity == viewer {
            continue;
        }
        if let Some(in_view) = shown.get_mut(&entity) {
            in_view.tick = short(tick);
            in_view.distance_sq = distance_sq;
            if let Some(&need) = changed.get(&entity) {
                in_view.owe(need, tick);
            }
            continue;
        }
        let what = match (objects.get(entity), people.get(entity)) {
            (Ok(((id, ..), _)), _) => Shown::Object(id.0),
            (_, Ok((person, ..))) => Shown::User(person.user),
            _ => continue,
        };
        let mut in_view = InView::new(what, tick, distance_sq);
        in_view.owe(Need::Appear, tick);
        shown.insert(entity, in_view);
    }
}

/// One sweep of a view, after [`refresh_in_range`].
struct Sweep {
    tick: u64,
    space: Entity,
    radius: f32,
    settle_ticks: u64,
}

impl Sweep {
    /// What left the view is announced in `delta` (out of range, or gone from the space);
    /// what was sent as motion and then stayed still is owed its final state; what is owed
    /// is lined up in `order`, nearest and freshest first, waiting raising priority.
    fn run(
        &self,
        shown: &mut EntityHashMap<InView>,
        changed: &EntityHashMap<Need>,
        (objects, people): (&Objects, &People),
        delta: &mut Delta,
        order: &mut Vec<(f32, Entity)>,
    ) {
        let tick = self.tick;
        shown.retain(|&entity, in_view| {
            if in_view.tick != short(tick) {
                match in_view.what {
                    Shown::Object(id) => match objects.get(entity) {
                        Ok((_, s)) if s.0 == self.space => delta.hidden.push(id),
                        _ => delta.removed.push(id),
                    },
                    Shown::User(user) => match people.get(entity) {
                        Ok((_, _, s, _)) if s.0 == self.space => delta.vanished.push(user),
                        _ => delta.left.push(user),
                    },
                }
                return false;
            }
            if let Some(last) = in_view.unsettled
                && u64::from(InView::ticks_since(last, tick)) >= self.settle_ticks
            {
                in_view.unsettled = None;
                in_view.owe(Need::Settle, tick);
            }
            if in_view.need.is_some() {
                let distance = in_view.distance_sq.sqrt() / self.radius;
                let waited =
                    InView::ticks_since(in_view.owed_since, tick) as f32 * WAIT_BONUS_PER_TICK;
                let fresh = if changed.contains_key(&entity) {
                    FRESH_BONUS
                } else {
                    0.0
                };
                order.push((distance - waited - fresh, entity));
            }
            true
        });
    }
}

/// Sends the owed entries in `order` until `budget` (estimated bytes) is spent; the
/// announcements already in `delta` count against it. What does not fit stays owed.
fn spend_budget(
    shown: &mut EntityHashMap<InView>,
    order: &[(f32, Entity)],
    tick: u64,
    budget: usize,
    (objects, people): (&Objects, &People),
    delta: &mut Delta,
) {
    let mut spent =
        (delta.hidden.len() + delta.vanished.len() + delta.removed.len() + delta.left.len())
            * ID_BYTES;
    for &(_, entity) in order {
        let Some(in_view) = shown.get_mut(&entity) else {
            continue;
        };
        let Some(need) = in_view.need else {
            continue;
        };
        if let Ok((data, _)) = objects.get(entity) {
            let (_, model, _, props, ..) = data;
            // Settling sends the object in full, like an appearance or a change.
            let cost = match need {
                Need::Motion => POSE_BYTES + 8,
                _ => OBJECT_BYTES + model.0.len() + props.0.len(),
            };
            if spent > 0 && spent + cost > budget {
                break;
            }
            spent += cost;
            let state = object_state(data);
            match need {
                Need::Appear | Need::Full => {
                    delta.objects.push(state);
                    in_view.unsettled = None;
                }
                Need::Motion => {
                    delta.moved.push(state);
                    in_view.unsettled = Some(short(tick));
                }
                Need::Settle => delta.settled_objects.push(state),
            }
        } else if let Ok((person, pose, _, just_joined)) = people.get(entity) {
            let cost = match need {
                Need::Appear | Need::Full => POSE_BYTES + person.name.len() + 1,
                _ => POSE_BYTES,
            };
            if spent > 0 && spent + cost > budget {
                break;
            }
            spent += cost;
            match need {
                Need::Appear | Need::Full if just_joined => {
                    delta.joined.push(user_state(person, pose))
                }
                Need::Appear | Need::Full => delta.appeared.push(user_state(person, pose)),
                Need::Motion => {
                    delta.avatars.push(AvatarPose::of(person, pose));
                    in_view.unsettled = Some(short(tick));
                }
                Need::Settle => delta.settled.push(AvatarPose::of(person, pose)),
            }
        }
        in_view.need = None;
    }
}
