//! The replicate step at scale: 1,000 clients walking among 10,000 objects in one space
//! (400 m × 400 m), half of them moving each tick (10 Hz walking at a 20 Hz tick).
//!
//! - `baseline/no_replication`: the same tick (ingesting the poses, persisting) without
//!   any replication, so that the replicate cost is the difference.
//! - `interest/r15`: a 15 m view radius, about 50 neighbours each, per-client deltas.
//! - `interest/r15+encode`: the same plus encoding every client's delta with postcard, as
//!   the tick's deliver stage does.
//! - `whole_space`: no view radius: one delta for everyone (what everyone-sees-everyone
//!   costs the world; its delivery is one encoding sent 1,000 times).
//!
//! - `replicate_1k_walkers_200m`: the load test's space (see `scripts/load.sh`): 1,000
//!   walkers in 200 m × 200 m, 20 m view radius, about 30 walking neighbours each.
//!
//! Run: `cargo bench --bench replicate`

use std::sync::Arc;
use std::time::Duration;

use bevy_app::App;
use criterion::{Criterion, criterion_group, criterion_main};
use glam::Vec3;
use plaza::edge::bridge::{Dialect, encode, event_to_wire};
use plaza_net::Codec;
use plaza_systems::{
    Command, ConnId, Input, Limits, LoadedSpace, ObjectState, Outbox, PersistencePlugin,
    ReplicationPlugin, SessionMeta, SimTime, Strikes, Transform, WorldPlugin, step,
};
use uuid::Uuid;

const CLIENTS: usize = 1_000;

/// Where client `i` stands at tick `t` in a square of `side` metres: spread over it, each
/// on its own slow circle.
fn position(i: usize, t: u64, side: f32) -> Vec3 {
    let cols = (CLIENTS as f32).sqrt().ceil() as usize;
    let spacing = side / cols as f32;
    let base = Vec3::new(
        (i % cols) as f32 * spacing - side / 2.0,
        0.0,
        (i / cols) as f32 * spacing - side / 2.0,
    );
    let angle = t as f32 * 0.05 + i as f32;
    base + Vec3::new(angle.cos(), 0.0, angle.sin()) * 3.0
}

struct World {
    app: App,
    tick: u64,
    side: f32,
}

impl World {
    fn new(view_radius: Option<f32>, replicate: bool, objects: usize, side: f32) -> Self {
        let limits = Limits {
            view_radius,
            // The whole space enters in one tick: this bench measures replication.
            load_slice_objects: usize::MAX,
            ..Limits::default()
        };
        let mut app = App::empty();
        app.add_plugins(WorldPlugin { limits, id_seed: 9 });
        if replicate {
            app.add_plugins(ReplicationPlugin);
        }
        app.add_plugins(PersistencePlugin);
        let mut world = Self { app, tick: 0, side };

        let connects = (0..CLIENTS).flat_map(|i| {
            let conn = ConnId(i as u64 + 1);
            [
                Input::Connect {
                    conn,
                    session: Uuid::from_u128(10_000 + i as u128),
                    user: Uuid::from_u128(20_000 + i as u128),
                    name: Arc::from(format!("bot{i}")),
                    admin: false,
                    meta: SessionMeta::default(),
                    strikes: Strikes::default(),
                    continued_from_ms: None,
                },
                Input::Command {
                    request: None,
                    conn,
                    command: Command::Join {
                        space: Arc::from("bench"),
                    },
                },
            ]
        });
        world.step(connects.collect());
        let span = side as usize;
        let objects = (0..objects)
            .map(|n| ObjectState {
                id: Uuid::from_u128(1_000_000 + n as u128),
                index: 0,
                model: Arc::from("crate"),
                transform: Transform::from_translation(Vec3::new(
                    (n * 37 % span) as f32 - side / 2.0,
                    0.0,
                    (n * 91 % span) as f32 - side / 2.0,
                )),
                props: Arc::from(r#"{"color":"red"}"#),
                owner: Uuid::from_u128(2),
                version: 1,
            })
            .collect();
        world.step(vec![Input::SpaceLoaded {
            name: Arc::from("bench"),
            result: Ok(LoadedSpace {
                id: Uuid::from_u128(1),
                name: Arc::from("bench"),
                objects,
                chat: Vec::new(),
                access: Default::default(),
            }),
        }]);
        // Everyone walks to their place and the first views settle.
        for _ in 0..3 {
            let poses = world.poses(0..CLIENTS);
            world.step(poses);
        }
        world
    }

    fn poses(&self, who: impl Iterator<Item = usize>) -> Vec<Input> {
        who.map(|i| Input::Command {
            request: None,
            conn: ConnId(i as u64 + 1),
            command: Command::Pose {
                transform: Transform::from_translation(position(i, self.tick, self.side)),
            },
        })
        .collect()
    }

    /// One tick in which half the clients move; returns what was sent.
    fn walk_tick(&mut self) -> Vec<plaza_systems::Outgoing> {
        let half = (self.tick % 2) as usize;
        let poses = self.poses((half..CLIENTS).step_by(2));
        self.step(poses)
    }

    fn step(&mut self, inputs: Vec<Input>) -> Vec<plaza_systems::Outgoing> {
        self.tick += 1;
        let time = SimTime {
            tick: self.tick,
            unix_ms: self.tick as i64 * 50,
        };
        step(&mut self.app, time, inputs);
        std::mem::take(&mut self.app.world_mut().resource_mut::<Outbox>().0)
    }
}

fn report(what: &str, sample: &[plaza_systems::Outgoing]) {
    let entries: usize = sample
        .iter()
        .filter_map(|o| match &o.event {
            plaza_systems::Event::Delta(d) => Some(d.avatars.len() + d.settled.len()),
            _ => None,
        })
        .sum();
    eprintln!(
        "{what}: {} deltas per tick, {:.1} avatar entries per delta",
        sample.len(),
        entries as f64 / sample.len().max(1) as f64
    );
}

/// Encodes every event as the deliver stage does for a postcard client.
fn encoded_bytes(sent: Vec<plaza_systems::Outgoing>) -> usize {
    sent.iter()
        .filter_map(|out| event_to_wire(&out.event))
        .map(|msg| encode(Dialect::current(Codec::Postcard), &msg).bytes.len())
        .sum()
}

/// Benchmarks one interest-managed space with a no-replication baseline: ticks with a
/// view radius of `radius`, and the same plus encoding every delta.
fn interest_group(
    c: &mut Criterion,
    name: &str,
    (radius, objects, side): (f32, usize, f32),
    whole_space_too: bool,
) {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    let mut baseline = World::new(Some(radius), false, objects, side);
    group.bench_function("baseline/no_replication", |b| {
        b.iter(|| baseline.walk_tick())
    });
    let label = format!("r{radius}");
    let mut interest = World::new(Some(radius), true, objects, side);
    report(&format!("{name} {label}"), &interest.walk_tick());
    group.bench_function(format!("interest/{label}"), |b| {
        b.iter(|| interest.walk_tick())
    });
    group.bench_function(format!("interest/{label}+encode"), |b| {
        b.iter(|| encoded_bytes(interest.walk_tick()))
    });
    if whole_space_too {
        let mut whole = World::new(None, true, objects, side);
        group.bench_function("whole_space", |b| b.iter(|| whole.walk_tick()));
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    interest_group(
        c,
        "replicate_1k_clients_10k_objects",
        (15.0, 10_000, 400.0),
        true,
    );
    // The load test's space: 1,000 walkers in 200 m × 200 m with a 20 m view radius, about
    // 30 neighbours each, every one of them walking.
    interest_group(c, "replicate_1k_walkers_200m", (20.0, 0, 200.0), false);
}

criterion_group!(benches, bench);
criterion_main!(benches);
