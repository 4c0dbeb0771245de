//! Big spaces enter the world, and reach whoever enters them, a slice per tick: no tick
//! spawns or snapshots more than `load_slice_objects` objects, nothing is left out, and a
//! space is joinable from its first slice.

use std::collections::{HashMap, HashSet};

use super::*;

use crate::components::ObjectId;

fn stored(n: usize) -> Vec<ObjectState> {
    (0..n)
        .map(|i| ObjectState {
            id: Uuid::from_u128(50_000 + i as u128),
            index: 0,
            model: Arc::from("crate"),
            transform: Transform::from_translation(Vec3::new(i as f32, 0.0, 0.0)),
            props: Arc::from("{}"),
            owner: Uuid::from_u128(9),
            version: 1,
        })
        .collect()
}

fn objects_in_world(world: &mut Harness) -> usize {
    let world = world.app.world_mut();
    world.query::<&ObjectId>().iter(world).count()
}

#[test]
fn a_big_space_enters_in_slices_while_other_spaces_tick_on() {
    let mut world = Harness::with_limits(Limits {
        load_slice_objects: 100,
        ..Limits::default()
    });
    world.join_new(2, 2, "busy");
    world.step(vec![connect(1, 1), join(1, "big")]);
    assert_eq!(world.load_requests(), vec![Arc::from("big")]);
    let loaded = LoadedSpace {
        objects: stored(1_050),
        ..empty_space("big")
    };
    let input = vec![Input::SpaceLoaded {
        name: Arc::from("big"),
        result: Ok(loaded),
    }];
    let (out, _) = world.step(input);
    let snapshot = events_for(&out, 1)
        .iter()
        .find_map(|e| match e {
            Event::Joined(s) => Some(s.clone()),
            _ => None,
        })
        .expect("the space is joinable with its first slice");
    assert_eq!(objects_in_world(&mut world), 100, "one slice entered");
    assert_eq!(
        snapshot.objects.len(),
        100,
        "the snapshot holds the first slice"
    );

    // The rest enter the world and reach the newcomer a slice per tick, each object once,
    // while the other space is served in every tick.
    let mut seen: HashSet<Uuid> = snapshot.objects.iter().map(|o| o.id).collect();
    for tick in 2..=11 {
        let chat = cmd(
            2,
            Command::Chat {
                text: Arc::from("still ticking"),
            },
        );
        let (out, _) = world.step(vec![chat]);
        assert!(
            objects_in_world(&mut world) <= 100 * tick,
            "a slice per tick"
        );
        let served = events_for(&out, 2)
            .iter()
            .any(|e| matches!(e, Event::Chat(_)));
        assert!(
            served,
            "the other space is served in every tick of the load"
        );
        let slice: Vec<Uuid> = events_for(&out, 1)
            .iter()
            .filter_map(|e| match e {
                Event::Delta(d) => Some(d.objects.iter().map(|o| o.id).collect::<Vec<_>>()),
                _ => None,
            })
            .flatten()
            .collect();
        assert!(slice.len() <= 100, "a slice per tick");
        for id in slice {
            assert!(seen.insert(id), "{id} sent twice");
        }
    }
    assert_eq!(objects_in_world(&mut world), 1_050);
    assert_eq!(seen.len(), 1_050, "every object reached the newcomer");
    let (out, _) = world.step(Vec::new());
    assert!(
        events_for(&out, 1).is_empty(),
        "nothing more once all is sent"
    );
}

#[test]
fn a_space_still_loading_counts_its_objects_against_the_limit() {
    let mut world = Harness::with_limits(Limits {
        load_slice_objects: 10,
        max_objects_per_space: 25,
        ..Limits::default()
    });
    world.step(vec![connect(1, 1), join(1, "full")]);
    let loaded = LoadedSpace {
        objects: stored(25),
        ..empty_space("full")
    };
    world.step(vec![Input::SpaceLoaded {
        name: Arc::from("full"),
        result: Ok(loaded),
    }]);
    assert_eq!(objects_in_world(&mut world), 10, "still loading");
    let (out, _) = world.step(vec![spawn_cmd(1, 1, 0.0)]);
    assert_eq!(
        error_kinds(&out, 1),
        vec![ErrorKind::TooLarge],
        "the 15 objects not yet in count"
    );
    for _ in 0..3 {
        world.step(Vec::new());
    }
    assert_eq!(
        objects_in_world(&mut world),
        25,
        "nothing but the stored objects"
    );
}

/// A space "yard" that session 1 filled with 30 objects, where newcomers get them 10 a tick.
fn yard_of_30_objects_in_slices_of_10() -> Harness {
    let mut world = Harness::with_limits(Limits {
        load_slice_objects: 10,
        ..Limits::default()
    });
    world.join_new(1, 1, "yard");
    for n in 0..30 {
        world.step(vec![spawn_cmd(1, n, n as f32)]);
    }
    world
}

#[test]
fn objects_removed_before_their_slice_are_not_sent() {
    let mut world = yard_of_30_objects_in_slices_of_10();
    let (out, _) = world.step(vec![connect(2, 2), join(2, "yard")]);
    let snapshot = events_for(&out, 2)
        .iter()
        .find_map(|e| match e {
            Event::Joined(s) => Some(s.clone()),
            _ => None,
        })
        .expect("a snapshot");
    let shown: HashSet<Uuid> = snapshot.objects.iter().map(|o| o.id).collect();
    // Owner 1 removes everything the newcomer has not been shown yet.
    let all: Vec<Uuid> = {
        let w = world.app.world_mut();
        w.query::<&ObjectId>().iter(w).map(|o| o.0).collect()
    };
    let despawns = all
        .iter()
        .filter(|id| !shown.contains(id))
        .map(|&id| cmd(1, Command::Despawn { id }))
        .collect();
    let (out, _) = world.step(despawns);
    for tick in 0..3 {
        let out = if tick == 0 {
            out.clone()
        } else {
            world.step(Vec::new()).0
        };
        for event in events_for(&out, 2) {
            if let Event::Delta(d) = event {
                assert!(
                    d.objects.is_empty(),
                    "a removed object was backfilled: {d:?}"
                );
            }
        }
    }
}

#[test]
fn newcomers_who_enter_together_share_each_backfill_slice() {
    let mut world = yard_of_30_objects_in_slices_of_10();
    let newcomers = [2, 3, 4];
    let arrivals = newcomers
        .iter()
        .flat_map(|&n| [connect(n, u128::from(n)), join(n, "yard")])
        .collect();
    let (out, _) = world.step(arrivals);
    let mut seen: HashMap<u64, HashSet<Uuid>> = HashMap::new();
    let mut record = |out: &[Outgoing]| {
        for n in newcomers {
            let ids = seen.entry(n).or_default();
            for event in events_for(out, n) {
                match event {
                    Event::Joined(s) => ids.extend(s.objects.iter().map(|o| o.id)),
                    Event::Delta(d) => ids.extend(d.objects.iter().map(|o| o.id)),
                    _ => {}
                }
            }
        }
    };
    record(&out);
    for _ in 0..2 {
        let (out, _) = world.step(Vec::new());
        let backfills = out
            .iter()
            .filter(|o| matches!(&o.event, Event::Delta(d) if !d.objects.is_empty()))
            .count();
        assert_eq!(backfills, 1, "one slice for the three of them: {out:?}");
        record(&out);
    }
    for n in newcomers {
        assert_eq!(
            seen[&n].len(),
            30,
            "newcomer {n} has every object in 3 ticks"
        );
    }
}
