//! Interest management stepped tick by tick: what each session sees with a view radius, and
//! how the per-client budget defers without losing anything.

use super::*;

use crate::Delta;

fn in_view(radius: f32, budget: usize) -> Harness {
    Harness::with_limits(Limits {
        view_radius: Some(radius),
        view_budget_bytes: budget,
        ..Limits::default()
    })
}

fn pose(conn: u64, x: f32) -> Input {
    cmd(
        conn,
        Command::Pose {
            transform: Transform::from_translation(Vec3::new(x, 0.0, 0.0)),
        },
    )
}

fn move_cmd(conn: u64, id: Uuid, x: f32) -> Input {
    cmd(
        conn,
        Command::Move {
            id,
            transform: Transform::from_translation(Vec3::new(x, 0.0, 0.0)),
        },
    )
}

/// The one delta `conn` got, if any (with a view radius, each session gets its own).
fn delta_of(out: &[Outgoing], conn: u64) -> Option<Delta> {
    let deltas: Vec<Delta> = events_for(out, conn)
        .into_iter()
        .filter_map(|e| match e {
            Event::Delta(d) => Some((**d).clone()),
            _ => None,
        })
        .collect();
    assert!(deltas.len() <= 1, "at most one delta per session per tick");
    deltas.into_iter().next()
}

#[test]
fn people_and_objects_appear_and_vanish_as_they_enter_and_leave_the_view() {
    let mut world = in_view(10.0, 64 * 1024);
    world.join_new(1, 1, "park");
    let (out, _) = world.step(vec![connect(2, 2), join(2, "park")]);
    let joined = events_for(&out, 2)
        .into_iter()
        .find_map(|e| match e {
            Event::Joined(s) => Some(s.clone()),
            _ => None,
        })
        .expect("the newcomer gets a snapshot");
    assert_eq!(joined.users.len(), 2, "both stand at the origin, in range");
    let users = |d: &Delta| d.joined.iter().map(|u| u.user).collect::<Vec<_>>();
    assert_eq!(
        delta_of(&out, 1).as_ref().map(users),
        Some(vec![Uuid::from_u128(2)])
    );

    // Bob walks away: Alice sees him go out of view, and he is not told about himself.
    let (out, _) = world.step(vec![pose(2, 50.0)]);
    let alice = delta_of(&out, 1).expect("a delta for alice");
    assert_eq!(alice.vanished, vec![Uuid::from_u128(2)]);
    assert!(alice.left.is_empty(), "he is still in the space");
    let bob = delta_of(&out, 2).expect("a delta for bob");
    assert_eq!(bob.vanished, vec![Uuid::from_u128(1)]);
    assert!(bob.avatars.is_empty(), "no one is sent their own avatar");

    // An object spawned next to Bob is seen by him only.
    let (out, _) = world.step(vec![spawn_cmd(2, 1, 52.0)]);
    let id = spawned_id(&out, 2);
    assert_eq!(
        delta_of(&out, 2).map(|d| d.objects.iter().map(|o| o.id).collect::<Vec<_>>()),
        Some(vec![id])
    );
    assert!(delta_of(&out, 1).is_none(), "alice sees nothing of it");

    // Bob carries it to Alice: it appears for her in full and hides from him.
    let (out, _) = world.step(vec![move_cmd(2, id, 3.0)]);
    let alice = delta_of(&out, 1).expect("a delta for alice");
    assert_eq!(alice.objects.len(), 1, "it came into her view in full");
    assert_eq!(alice.objects[0].transform.translation.x, 3.0);
    assert_eq!(delta_of(&out, 2).map(|d| d.hidden), Some(vec![id]));

    // Bob comes back: he appears to Alice, and sees her and the object again.
    let (out, _) = world.step(vec![pose(2, 4.0)]);
    let alice = delta_of(&out, 1).expect("a delta for alice");
    assert_eq!(
        alice.appeared.iter().map(|u| u.user).collect::<Vec<_>>(),
        vec![Uuid::from_u128(2)]
    );
    let bob = delta_of(&out, 2).expect("a delta for bob");
    assert_eq!(bob.appeared.len(), 1);
    assert_eq!(
        bob.objects.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![id]
    );

    // A despawn in view is a removal; a disconnect in view is a departure.
    let (out, _) = world.step(vec![cmd(2, Command::Despawn { id })]);
    assert_eq!(delta_of(&out, 1).map(|d| d.removed), Some(vec![id]));
    let (out, _) = world.step(vec![Input::Disconnect { conn: ConnId(2) }]);
    assert_eq!(
        delta_of(&out, 1).map(|d| d.left),
        Some(vec![Uuid::from_u128(2)])
    );
}

#[test]
fn the_budget_defers_the_farthest_and_delivers_everything_at_its_latest_state() {
    // About three objects' worth of bytes per tick.
    let mut world = in_view(100.0, 300);
    world.join_new(1, 1, "hall");
    world.join_new(2, 2, "hall");
    let spawns = (0..12u32)
        .map(|i| spawn_cmd(2, i, 1.0 + i as f32))
        .collect();
    let (out, _) = world.step(spawns);
    let first = delta_of(&out, 1).expect("some of it goes at once");
    assert!(
        (1..=4).contains(&first.objects.len()),
        "{} objects went in one tick",
        first.objects.len()
    );
    let xs: Vec<f32> = first
        .objects
        .iter()
        .map(|o| o.transform.translation.x)
        .collect();
    assert!(
        xs.iter().all(|&x| x <= 1.0 + xs.len() as f32),
        "the nearest go first: {xs:?}"
    );
    let mut seen: std::collections::HashMap<Uuid, ObjectState> =
        first.objects.into_iter().map(|o| (o.id, o)).collect();

    // Meanwhile the farthest object changes; what the client gets must be its newest state.
    let ids: Vec<Uuid> = events_for(&out, 2)
        .into_iter()
        .filter_map(|e| match e {
            Event::Spawned { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    let farthest = *ids.last().expect("twelve spawns");
    let mut collect = |out: &[Outgoing]| {
        let d = delta_of(out, 1);
        if let Some(d) = &d {
            assert!(
                d.objects.len() + d.moved.len() <= 4,
                "the budget holds every tick"
            );
            for o in d.objects.iter().chain(&d.moved) {
                seen.insert(o.id, o.clone());
            }
        }
        d.is_some()
    };
    let (out, _) = world.step(vec![move_cmd(2, farthest, 20.0)]);
    collect(&out);
    let mut quiet_ticks = 0;
    for _ in 0..30 {
        let (out, _) = world.step(vec![]);
        if !collect(&out) {
            quiet_ticks += 1;
        }
    }
    assert!(quiet_ticks > 0, "the backlog drains");
    assert_eq!(seen.len(), 12, "every object arrived");
    let last = &seen[&farthest];
    assert_eq!(
        (last.transform.translation.x, last.version),
        (20.0, 2),
        "the deferred object arrived at its latest state"
    );
}
